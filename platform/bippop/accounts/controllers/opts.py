"""Route options the accounts pages share (read by the host resolution and the permission guard)."""

PUBLIC = {"public": True}
# Sign-in and sign-out also serve the co-op console, whose staff are handled by coop/controllers.py.
TENANT_AND_COOP = {**PUBLIC, "sites": ("tenant", "coop")}
