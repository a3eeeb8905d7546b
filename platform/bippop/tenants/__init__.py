"""The tenancy core: registry, host resolution, tenant context, provisioning, migrator, job middleware."""
