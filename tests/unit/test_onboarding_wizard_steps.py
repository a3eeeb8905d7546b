"""The wizard's pure rules: the address proposed from a name, and which step a sign-up may see."""

from __future__ import annotations

import datetime
import uuid

from bippop.onboarding.models import Signup
from bippop.onboarding.wizard.services.portal import slug_from_name
from bippop.onboarding.wizard.steps import first_missing, reachable, steps_done
from bippop.tenants.naming import SIGNUP_RESERVED_SLUGS, SLUG_PATTERN


def test_the_address_proposed_from_a_name_is_a_valid_slug() -> None:
    assert slug_from_name("Compiègne") == "compiegne"
    assert slug_from_name("Saint-Jean-de-Luz") == "saint-jean-de-luz"
    assert slug_from_name("L'Île-Saint-Denis") == "l-ile-saint-denis"
    assert (
        slug_from_name("Communauté d'agglomération de la Région de Compiègne et de la Basse Automne")[-1]
        != "-"
    )
    for name in ("Y", "Œuilly", "3 Rivières", "Eu"):
        assert SLUG_PATTERN.fullmatch(slug_from_name(name)), name
    assert {"www", "coop", "api", "admin", "static", "demo", "mail", "aide"} <= SIGNUP_RESERVED_SLUGS


def signup(**answers: object) -> Signup:
    return Signup(
        id=uuid.uuid4(),
        secret_hash="x" * 64,
        status="draft",
        answers=answers,
        step_done=0,
        expires_at=datetime.datetime.now(datetime.UTC),
    )


def test_a_step_is_reachable_once_the_ones_before_are_done() -> None:
    assert first_missing(None) == "/creation/collectivite" and reachable(None, 1) and not reachable(None, 2)
    draft = signup(collectivity={"code": "60159"})
    draft.step_done = steps_done(draft)
    assert draft.step_done == 1 and first_missing(draft) == "/creation/compte"
    draft.answers = {**draft.answers, "account": {"email": "a@b.fr"}}
    draft.password_hash = "hash"
    assert first_missing(draft) == "/creation/compte/code"
    draft.email_verified_at = datetime.datetime.now(datetime.UTC)
    assert first_missing(draft) == "/creation/compte/double-authentification"
    draft.totp_confirmed_at = datetime.datetime.now(datetime.UTC)
    # Later answers kept from before count again once the steps before them are done.
    draft.answers = {**draft.answers, "address": {"slug": "x"}, "modules": ["visits"]}
    draft.step_done = steps_done(draft)
    assert draft.step_done == 3 and first_missing(draft) == "/creation/apparence" and not reachable(draft, 5)
    draft.status = "submitted"
    assert first_missing(draft) == "/creation/progression" and not reachable(draft, 1)
