"""``/affichage``: any visitor, on any site, switches high contrast and large text on or off; the choice
is kept in a cookie for a year (``web/display.py``) and the visitor goes back to the page they came from."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from bippop.web.display import COOKIE_SECONDS, DISPLAY_COOKIE, cookie_value, display_choices
from bippop.web.forms import FormData, field_values, first_text
from bippop.web.pages import ALL_SITES, render, safe_next

OPT = {"sites": ALL_SITES, "public": True}


class DisplayController(Controller):
    path = "/affichage"

    @get("/", opt=OPT, name="display")
    async def page(self, request: Request, next_url: FromQuery[str | None] = None) -> Response[str]:
        context = {"chosen": display_choices(request.cookies), "next_url": safe_next(next_url)}
        return render(request, "display.html", context)

    @post("/", opt=OPT, name="display-save")
    async def save(self, data: FormData) -> Response[Any]:
        """Checked boxes are kept, unchecked ones dropped; unknown values are ignored."""
        response = Redirect(safe_next(first_text(data, "next_url")), status_code=303)
        value = cookie_value(field_values(data, "display"))
        if value:
            response.set_cookie(DISPLAY_COOKIE, value, max_age=COOKIE_SECONDS, samesite="lax", httponly=True)
        else:
            response.delete_cookie(DISPLAY_COOKIE)
        return response
