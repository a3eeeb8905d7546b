"""What every console page shares: the signed-in staff member (or a redirect to sign in), the
page number of a list, the audit log, and a confirmation step for actions that cannot be undone
lightly."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from bippop.accounts.auth import current_identity, end_session
from bippop.accounts.staff_models import Staff

SIGN_IN_PATH = "/connexion"
COOP_ONLY = {"sites": ("coop",)}
PAGE_SIZE = 50


async def current_staff(request: Request, db_session: AsyncSession) -> Staff | None:
    """The signed-in staff member, if the account still exists and may sign in."""
    identity = current_identity(request)
    if identity is None or identity.kind != "staff":
        return None
    staff = await db_session.get(Staff, identity.person_id)
    return staff if staff is not None and staff.can_sign_in else None


async def signed_out(request: Request) -> Response[Any]:
    """End the session and send to the sign-in page (an account disabled since signing in)."""
    response: Response[Any] = Redirect(SIGN_IN_PATH, status_code=303)
    await end_session(request, response)
    return response


MAX_PAGE = 100_000  # beyond, an offset no list reaches (and a huge one overflows PostgreSQL's bigint)


def page_number(request: Request) -> int:
    """The ``?page=`` asked for, 1 to ``MAX_PAGE`` (1 when it is not a number)."""
    try:
        return min(MAX_PAGE, max(1, int(str(request.query_params.get("page", "1"))[:12])))
    except ValueError:
        return 1
