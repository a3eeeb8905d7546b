"""The help-request use cases both sides of the portal call: the rules, the audit records and the
outbox rows live here, so a page handler only parses its form, calls one function and renders."""
