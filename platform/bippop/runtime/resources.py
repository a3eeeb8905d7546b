"""The process resources, where the CLI, the supervisor and the tests know them; they are the tenancy
core's (``tenants/resources.py``), so that each domain's jobs reach them without importing ``runtime``."""

from bippop.tenants.resources import PlatformResources, platform_resources, resources_for, use_resources

__all__ = ["PlatformResources", "platform_resources", "resources_for", "use_resources"]
