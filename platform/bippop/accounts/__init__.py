"""People, roles, authentication, sessions and the audit log."""
