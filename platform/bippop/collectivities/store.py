"""The shipped list (``data/collectivities.json.gz``), read once on first use, and its indexes.

The file is written by ``scripts/collectivities.py`` from a release of ``@etalab/decoupage-administratif``
(its format is described there). Loading takes a fraction of a second and some tens of MB, so it
happens on the first question, not at import, once per process even when threads ask together.
"""

from __future__ import annotations

import gc
import gzip
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bippop.collectivities.model import Collectivity
from bippop.collectivities.names import NameIndex

DATA_FILE = "collectivities.json.gz"


@dataclass(frozen=True)
class Catalogue:
    """Every collectivity, with what finds one by code, SIREN, postcode, département or name."""

    dataset: str
    entries: tuple[Collectivity, ...]
    by_code: dict[tuple[str, str], Collectivity]
    by_siren: dict[str, Collectivity]
    by_postcode: dict[str, tuple[Collectivity, ...]]
    communes_of: dict[str, tuple[Collectivity, ...]]  # by département, most populous first
    names: NameIndex


def _main_departement(members: Iterable[str], communes: dict[str, Collectivity]) -> str:
    """Where most of an EPCI's inhabitants live (the lowest code on a tie)."""
    weight: Counter[str] = Counter()
    for code in members:
        commune = communes.get(code)
        if commune is not None:
            weight[commune.departement] += commune.population + 1
    return min(weight, key=lambda dep: (-weight[dep], dep)) if weight else ""


def _collectivities(document: dict[str, Any]) -> list[Collectivity]:
    places = {code: name for code, name, *_ in document["departements"]}
    places.update(document["territories"])
    communes = {
        code: Collectivity(
            "commune", code, name, siren, dep, places.get(dep, ""), tuple(postcodes), population
        )
        for code, name, dep, siren, postcodes, population in document["communes"]
    }
    members_of: defaultdict[str, list[str]] = defaultdict(list)
    for commune in communes.values():
        members_of[commune.departement].append(commune.code)
    departements = [
        Collectivity("departement", code, name, siren, code, name, (), population, tuple(members_of[code]))
        for code, name, population, siren in document["departements"]
    ]
    epcis = []
    for siren, name, _nature, population, members in document["epci"]:
        dep = _main_departement(members, communes)
        epcis.append(
            Collectivity("epci", siren, name, siren, dep, places.get(dep, ""), (), population, tuple(members))
        )
    return [*communes.values(), *epcis, *departements]


def build(document: dict[str, Any]) -> Catalogue:
    """The catalogue of a document as ``scripts/collectivities.py`` writes it."""
    entries = tuple(_collectivities(document))
    by_postcode: defaultdict[str, list[Collectivity]] = defaultdict(list)
    communes_of: defaultdict[str, list[Collectivity]] = defaultdict(list)
    for entry in entries:
        if entry.kind == "commune":
            communes_of[entry.departement].append(entry)
            for postcode in entry.postcodes:
                by_postcode[postcode].append(entry)

    def biggest_first(group: list[Collectivity]) -> tuple[Collectivity, ...]:
        return tuple(sorted(group, key=lambda c: (-c.population, c.code)))

    return Catalogue(
        dataset=f"{document['dataset']} {document['version']}",
        entries=entries,
        by_code={(entry.kind, entry.code): entry for entry in entries},
        by_siren={entry.siren: entry for entry in entries if entry.siren and entry.kind != "departement"},
        by_postcode={code: biggest_first(group) for code, group in by_postcode.items()},
        communes_of={code: biggest_first(group) for code, group in communes_of.items()},
        names=NameIndex(entries),
    )


def read_document() -> dict[str, Any]:
    """The shipped file, decoded."""
    raw = resources.files("bippop.collectivities").joinpath("data", DATA_FILE).read_bytes()
    document: dict[str, Any] = json.loads(gzip.decompress(raw))
    return document


_lock = threading.Lock()
_loaded: list[Catalogue] = []


def loaded() -> bool:
    """Whether this process has built the catalogue already."""
    return bool(_loaded)


def catalogue() -> Catalogue:
    """The shipped catalogue, built on the first call (once, even when threads call together)."""
    if not _loaded:
        with _lock:
            if not _loaded:
                _loaded.append(_build_without_collector())
    return _loaded[0]


def _build_without_collector() -> Catalogue:
    # Some 500,000 new objects, none in a cycle: the cyclic collector would walk them again and
    # again while they are made (it doubles the time). It is paused for the build, then restored.
    paused = gc.isenabled()
    gc.disable()
    try:
        return build(read_document())
    finally:
        if paused:
            gc.enable()
