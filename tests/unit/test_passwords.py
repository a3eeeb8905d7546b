"""Password policy and hashing: the issue's thresholds, measured on zxcvbn's own list of common passwords."""

from __future__ import annotations

import pytest
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from bippop.accounts.passwords import hash_password, needs_rehash, password_problems, verify_password
from bippop.web import i18n


def test_none_of_the_1000_most_common_passwords_is_accepted() -> None:
    common = FREQUENCY_LISTS["passwords"][:1000]
    accepted = [p for p in common if not password_problems(p)]
    assert accepted == []


@pytest.mark.parametrize("password", ["", "a", "Xy7!", "7charsX", "éèàçùô!"])
def test_short_passwords_are_refused(password: str) -> None:
    [problem] = password_problems(password)
    assert problem.field == "password"
    assert "8" in problem.message


def test_every_password_under_8_characters_is_refused() -> None:
    # Strong-looking short ones included: length is a rule of its own.
    for password in ("Zq#9vLp", "correct", "T0ub4&3", "\u00e9\u00e8\u00e0\u00e7\u00f9\u00f4!"):
        assert password_problems(password), password


@pytest.mark.parametrize(
    "password", ["motdepasse", "azertyuiop", "bonjour123", "jetaime1", "compiegne60", "Marie1950"]
)
def test_french_favourites_are_refused(password: str) -> None:
    assert password_problems(password, related=["Marie Dupont", "marie@exemple.fr", "Compiègne"])


@pytest.mark.parametrize("password", ["chat-noir-velo", "lapin bleu du jardin", "Tr0ub4dor&3"])
def test_memorable_strong_passwords_are_accepted(password: str) -> None:
    assert password_problems(password) == []


def test_the_persons_own_name_and_commune_do_not_count_as_secrets() -> None:
    assert password_problems("durandcompiegne", related=["Paul Durand", "Compiègne", "compiegne"])


def test_messages_follow_the_persons_language() -> None:
    token = i18n.current_locale.set("fr")
    try:
        [french] = password_problems("azerty")
    finally:
        i18n.current_locale.reset(token)
    token = i18n.current_locale.set("en")
    try:
        [english] = password_problems("azerty")
    finally:
        i18n.current_locale.reset(token)
    assert "caractères" in french.message
    assert "characters" in english.message


def test_hashes_are_argon2id_and_verify() -> None:
    stored = hash_password("chat-noir-velo")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "chat-noir-velo")
    assert not verify_password(stored, "chat-noir-vel0")
    assert not verify_password(None, "chat-noir-velo")
    assert not verify_password("not a hash", "x")
    assert not needs_rehash(stored)
