"""The page benchmark's two baselines (test_pages_bench.py), served as ``bippop web`` serves the platform.

``bare``: a Litestar app that renders ``baseline_page.html`` (Litestar's Jinja engine) and does
nothing else: what this stack costs for a page with no I/O.
``io``: the same page after the least I/O a tenant page does: one Redis GET, one transaction scoped to
a tenant (bippop's session factory: ``set_config`` of the path and role) with one query in it, then
the render. The floor for the platform's pages on this stack.

Both answer ``GET /healthz`` (no I/O) for the start-up wait. Run as a script:
``python tests/benchmarks/baseline_apps.py {bare,io} --port N`` with the ``BIPPOP_*`` variables
``bippop web`` gets, plus for ``io`` ``BENCH_TENANT_SCHEMA`` and ``BENCH_TENANT_ROLE`` (the tenant
its transaction is scoped to). uvicorn's configuration is ``bippop web``'s own
(``bippop.runtime.web.server_config``): loop and HTTP parser left to uvicorn (uvloop and httptools
when installed), no access log, no server header.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from sqlalchemy import text

HERE = Path(__file__).parent
TEMPLATE = "baseline_page.html"
REDIS_KEY = "bippop:bench:baseline"
# The one query of the ``io`` page: the home page's count of volunteers.
QUERY = text("select count(*) from people where 'volunteer' = any(roles)")

SERVICES = [
    {
        "slug": slug,
        "icon": slug,
        "name": name,
        "description": f"{name} : un bénévole de la commune vient vous aider, près de chez vous.",
    }
    for slug, name in (
        ("visits", "Visites de convivialité"),
        ("reading", "Lecture à voix haute"),
        ("admin_help", "Aide aux démarches"),
        ("it_help", "Aide informatique"),
        ("walks", "Promenades accompagnées"),
        ("errands", "Petites courses"),
        ("events", "Sorties et événements"),
        ("senior_junior", "Rencontres entre générations"),
    )
]
CONTEXT: dict[str, Any] = {
    "title": "Compiègne",
    "tagline": "Personne ne doit rester seul à Compiègne : demandez de l'aide ou proposez la vôtre.",
    "colours": {"primary": "#1d4f91", "secondary": "#f2a900", "background": "#ffffff"},
    "navigation": [
        {"path": path, "label": label, "current": path == "/"}
        for path, label in (
            ("/", "Accueil"),
            ("/demander", "Demander de l'aide"),
            ("/devenir-benevole", "Devenir bénévole"),
            ("/connexion", "Se connecter"),
        )
    ],
    "services": SERVICES,
    "steps": [
        {
            "title": "Bip :",
            "text": "une personne, un proche ou la mairie enregistre un besoin : une visite, "
            "de la lecture, de l'aide avec un ordinateur ou des papiers, une promenade, des courses.",
        },
        {
            "title": "Pop :",
            "text": "un bénévole vérifié, près de chez vous, répond et convient avec vous de la visite.",
        },
        {"title": "Suivi :", "text": "la mairie s'assure que l'aide a eu lieu et que tout va bien."},
    ],
    "footer": [
        {"path": path, "label": label}
        for path, label in (
            ("/mentions-legales", "Mentions légales"),
            ("/confidentialite", "Confidentialité"),
            ("/accessibilite", "Accessibilité : partiellement conforme"),
            ("/contact", "Contact"),
        )
    ],
    "languages": [("fr", "Français"), ("en", "English"), ("ar", "العربية"), ("pt", "Português")],
}


@dataclasses.dataclass(frozen=True)
class Scope:
    """What bippop's scoped sessions need of a tenant (``bippop.db.engine.TenantScope``)."""

    schema: str
    role: str


@get("/healthz", sync_to_thread=False)
def healthz() -> str:
    return "ok"


@get("/", sync_to_thread=False)
def bare_page() -> Template:
    return Template(TEMPLATE, context={**CONTEXT, "volunteers": 12, "cached": None})


@get("/")
async def io_page(state: State) -> Template:
    cached = await state.redis.get(REDIS_KEY)
    async with state.sessions(info={"tenant": state.tenant}) as session, session.begin():
        volunteers = (await session.execute(QUERY)).scalar_one()
    return Template(TEMPLATE, context={**CONTEXT, "volunteers": volunteers, "cached": cached and len(cached)})


def _templates() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE, engine=JinjaTemplateEngine)


def bare_app() -> Litestar:
    return Litestar(route_handlers=[healthz, bare_page], template_config=_templates())


def io_app(settings: Any, schema: str, role: str) -> Litestar:
    """The ``io`` baseline on ``settings``' database and Redis; its transactions scoped to ``schema``/``role``."""
    from redis.asyncio import Redis

    from bippop.db.engine import async_session_factory, make_async_engine

    @asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        # Opened as the platform's app opens them (bippop.app.open_resources): same engine, same client.
        engine = make_async_engine(settings)
        redis = Redis.from_url(settings.redis_url or "", socket_timeout=3, socket_connect_timeout=3)
        # About what the host cache keeps for a tenant, so that the GET reads a value of that size.
        await redis.set(
            REDIS_KEY, json.dumps({"tenant": "x" * 40, "schema": schema, "role": role} | CONTEXT["colours"])
        )
        app.state.engine = engine
        app.state.redis = redis
        app.state.sessions = async_session_factory(engine)
        app.state.tenant = Scope(schema, role)
        try:
            yield
        finally:
            await redis.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose
            await engine.dispose()

    return Litestar(route_handlers=[healthz, io_page], template_config=_templates(), lifespan=[resources])


def main(argv: list[str]) -> None:
    import uvicorn

    from bippop.config import get_settings
    from bippop.runtime.web import server_config

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("bare", "io"))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.kind == "bare":
        app = bare_app()
    else:
        app = io_app(settings, os.environ["BENCH_TENANT_SCHEMA"], os.environ["BENCH_TENANT_ROLE"])
    server = uvicorn.Server(server_config(settings, app=app, host="127.0.0.1", port=args.port))
    server.run()
    if not server.started:
        sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1:])
