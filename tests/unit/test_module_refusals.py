"""A module cannot take what belongs to the core or to another module, nor link out of the portal: such a
module is refused (logged and left out) like a broken one, never a crash of the platform."""

from __future__ import annotations

import pytest

from bippop.modules.contract import Field, Label, MenuLink, ModuleManifest, Notice, Permission
from bippop.modules.registry import clash, installed_modules

L = Label("x", "x")


def manifest(**extra: object) -> ModuleManifest:
    return ModuleManifest(
        slug="knitting",
        name=L,
        description=L,
        icon="leaf",
        fields=(Field("what", L),),
        **extra,  # type: ignore[arg-type]
    )


def test_a_link_or_notice_must_stay_on_the_portal() -> None:
    for path in ("//evil.example/x", "https://evil.example", "@evil.example", "/\\evil.example"):
        with pytest.raises(ValueError, match="path of the portal"):
            manifest(links=(MenuLink("portal", path, L),))
        with pytest.raises(ValueError, match="path of the portal"):
            manifest(notices={"knitting_news": Notice(L, L, path)})
    assert manifest(links=(MenuLink("portal", "/tricot", L),)).links[0].path == "/tricot"


def test_a_module_cannot_take_a_core_action_or_another_modules() -> None:
    others = list(installed_modules().values())
    assert clash(manifest(), others) is None
    taken = ModuleManifest(
        slug="people",
        name=L,
        description=L,
        icon="leaf",
        fields=(),
        permissions=(Permission("people.view", frozenset({"volunteer"}), "x"),),
    )
    assert "already taken" in (clash(taken, others) or "")
    events_again = ModuleManifest(
        slug="events2",
        name=L,
        description=L,
        icon="leaf",
        fields=(),
        notices={"event_cancelled": Notice(L, L, "/x")},
    )
    assert "purposes already taken" in (clash(events_again, others) or "")
    core_purpose = manifest(notices={"request_matched": Notice(L, L)})
    assert "purposes already taken" in (clash(core_purpose, others) or "")
    unknown_link = manifest(links=(MenuLink("coordination", "/tricot", L, "knitting.typo"),))
    assert "unknown action" in (clash(unknown_link, others) or "")
