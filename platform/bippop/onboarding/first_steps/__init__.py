"""A new portal's first steps: the administrator's checklist (invite coordinators, add partners, set the
contact phone, publish) and the portal's publication."""

from bippop.onboarding.first_steps.checklist import UNPUBLISHED_SETTINGS, published_statement
from bippop.onboarding.first_steps.controllers import FirstStepsController

__all__ = ["UNPUBLISHED_SETTINGS", "FirstStepsController", "published_statement"]
