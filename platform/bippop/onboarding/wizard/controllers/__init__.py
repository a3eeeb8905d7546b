"""The wizard's pages, under ``/creation`` on the public site; ``/inscription`` there leads to them."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.onboarding.wizard.controllers.account import AccountController
from bippop.onboarding.wizard.controllers.billing import BillingController
from bippop.onboarding.wizard.controllers.collectivity import CollectivityController
from bippop.onboarding.wizard.controllers.common import see_other
from bippop.onboarding.wizard.controllers.confirm import ConfirmController
from bippop.onboarding.wizard.controllers.portal import PortalController
from bippop.onboarding.wizard.steps import PREFIX

WIZARD_CONTROLLERS: tuple[type[Controller], ...] = (
    CollectivityController,
    AccountController,
    PortalController,
    BillingController,
    ConfirmController,
)


async def sign_up_entry(
    request: Request[Any, Any, Any], db_session: AsyncSession, form: dict[str, Any]
) -> Response[Any]:
    """``/inscription`` on the public site: the wizard's entry, which sends this browser where it left off
    (its cookie is only sent under ``/creation``)."""
    return see_other(PREFIX)
