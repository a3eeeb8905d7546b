"""The demo commune seeded by `bippop run` on first start: Compiègne (INSEE 60159), slug ``demo``.

Idempotent: a later start finds it and changes nothing.
"""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import Engine, func, select

from bippop import clock
from bippop.accounts.models import Person
from bippop.accounts.passwords import hash_password
from bippop.db.engine import session_factory
from bippop.modules.registry import installed_modules
from bippop.tenants.cache import HostCache
from bippop.tenants.provisioning import provision
from bippop.tenants.services import TenantService

DEMO_SLUG = "demo"
DEMO_PASSWORD = "bippop-demo-2026"  # noqa: S105 (printed on purpose: demo data only)


# The demo's volunteers can do what the installed modules ask for: Julien everything, Amina what needs
# no full vetting.
ALL_SKILLS = sorted({skill for m in installed_modules().values() for skill in m.matching.skills})
SKILLS_UP_TO_LEVEL_1 = sorted(
    {
        skill
        for m in installed_modules().values()
        if m.matching.vetting_level <= 1
        for skill in m.matching.skills
    }
)


@dataclasses.dataclass(frozen=True)
class DemoPerson:
    display_name: str
    email: str
    roles: tuple[str, ...]
    extra: tuple[tuple[str, object], ...] = ()


DEMO_PEOPLE = (
    DemoPerson("Claire Martin", "coordination@demo.localhost", ("coordinator", "tenant_admin")),
    DemoPerson(
        "Julien Petit",
        "julien.benevole@demo.localhost",
        ("volunteer",),
        (
            ("vetting_level", 2),
            ("skills", ALL_SKILLS),
            ("latitude", 49.4179),
            ("longitude", 2.8261),
            ("commune_code", "60159"),
        ),
    ),
    DemoPerson(
        "Amina Haddad",
        "amina.benevole@demo.localhost",
        ("volunteer",),
        (
            ("vetting_level", 1),
            ("skills", SKILLS_UP_TO_LEVEL_1),
            ("languages", ["fr", "ar"]),
            ("latitude", 49.4095),
            ("longitude", 2.8347),
            ("commune_code", "60159"),
        ),
    ),
    DemoPerson(
        "Jeanne Lefèvre",
        "jeanne@demo.localhost",
        ("beneficiary",),
        (
            ("phone", "06 00 00 00 01"),
            ("address", "4 rue Solférino"),
            ("postcode", "60200"),
            ("commune_code", "60159"),
            ("latitude", 49.4160),
            ("longitude", 2.8290),
        ),
    ),
)


def seed_demo(engine: Engine, *, base_domain: str, host_cache: HostCache | None) -> bool:
    """Create, provision and populate the demo commune; returns True when it was created now."""
    Session = session_factory(engine)
    created = False
    with Session.begin() as session:
        service = TenantService(session, base_domain=base_domain, host_cache=host_cache)
        tenant = service.by_slug(DEMO_SLUG)
        if tenant is None:
            tenant = service.register(
                slug=DEMO_SLUG,
                name="Compiègne",
                kind="commune",
                official_code="60159",
                branding={
                    "tagline": "Personne ne doit rester seul à Compiègne : demandez de l'aide ou proposez la vôtre.",
                    "contact_address": "Hôtel de Ville, place de l'Hôtel de Ville, 60200 Compiègne",
                },
            )
            created = True
        tenant_id, ref = tenant.id, tenant.ref()
    provision(engine, tenant_id, base_domain=base_domain, host_cache=host_cache)
    with Session(info={"tenant": ref}) as session, session.begin():
        for person in DEMO_PEOPLE:
            exists = session.scalar(
                select(func.count()).select_from(Person).where(func.lower(Person.email) == person.email)
            )
            if not exists:
                session.add(
                    Person(
                        id=uuid.uuid4(),
                        display_name=person.display_name,
                        email=person.email,
                        password_hash=hash_password(DEMO_PASSWORD),
                        roles=list(person.roles),
                        email_verified_at=clock.now(),
                        **dict(person.extra),
                    )
                )
    return created
