"""Slugs, schema and role names, host names: validated before any SQL sees them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bippop.tenants.naming import (
    IDENTIFIER_PATTERN,
    InvalidName,
    normalise_hostname,
    role_for,
    schema_for,
    validate_slug,
)


@pytest.mark.parametrize("slug", ["demo", "compiegne", "saint-jean-de-luz", "cc-du-pays-x2"])
def test_good_slugs(slug: str) -> None:
    assert validate_slug(slug) == slug
    assert schema_for(slug) == "t_" + slug.replace("-", "_")


@pytest.mark.parametrize(
    "slug", ["", "ab", "Demo", "1commune", "a--b", "fin-", "é-t-é", "a b", "coop", "www", "x" * 41]
)
def test_bad_slugs(slug: str) -> None:
    with pytest.raises(InvalidName):
        validate_slug(slug)


@given(st.text(max_size=60))
def test_any_text_is_either_a_safe_schema_name_or_refused(text: str) -> None:
    try:
        schema = schema_for(text)
    except InvalidName:
        return
    assert IDENTIFIER_PATTERN.fullmatch(schema)
    assert IDENTIFIER_PATTERN.fullmatch(role_for(schema, "bippop"))


def test_roles_differ_between_databases_of_one_cluster() -> None:
    assert role_for("t_demo", "bippop") != role_for("t_demo", "bippop_staging")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Demo.Localhost:8000", "demo.localhost"),
        ("aide.compiegne.fr.", "aide.compiegne.fr"),
        ("entraide-cœur.fr", "xn--entraide-cur-xic.fr"),
    ],
)
def test_hostnames_are_normalised(raw: str, expected: str) -> None:
    assert normalise_hostname(raw) == expected


@pytest.mark.parametrize("raw", ["", "bad host", "a..b", "[::1]:8000", "-x.fr", "x" * 300])
def test_bad_hostnames(raw: str) -> None:
    with pytest.raises(InvalidName):
        normalise_hostname(raw)
