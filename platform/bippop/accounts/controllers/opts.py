"""Route options the accounts pages share (read by the host resolution and the permission guard)."""

PUBLIC = {"public": True}
# Sign-in and sign-out also serve the co-op console, whose staff are handled by coop/controllers.py.
TENANT_AND_COOP = {**PUBLIC, "sites": ("tenant", "coop")}
# The sign-in form also answers on the public site, which sends a council's administrator to its portal.
SIGN_IN_SITES = {**PUBLIC, "sites": ("tenant", "coop", "public")}
# GET /inscription: a resident's sign-up on a tenant's host, the councils' wizard on the public site.
SIGN_UP_SITES = {**PUBLIC, "sites": ("tenant", "public")}
