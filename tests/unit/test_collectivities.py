"""The official collectivities (``bippop.collectivities``): the shipped list, finding and searching it,
and the script that regenerates the list from a release tarball."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import tarfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bippop import collectivities
from bippop.collectivities import store
from bippop.collectivities.names import normalise

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "collectivities.py"
SHIPPED = ROOT / "platform" / "bippop" / "collectivities" / "data" / "collectivities.json.gz"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("collectivities_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _codes(query: str, limit: int = 10) -> list[str]:
    return [found.code for found in collectivities.search(query, limit)]


def test_the_shipped_list_holds_every_current_commune_departement_and_epci() -> None:
    kinds = [entry.kind for entry in store.catalogue().entries]
    assert kinds.count("commune") == 34_969
    assert kinds.count("departement") == 101
    assert kinds.count("epci") == 1_255
    assert collectivities.DATASET == "@etalab/decoupage-administratif 6.0.0"


def test_compiegne_and_its_neighbours_carry_their_official_fields() -> None:
    commune = collectivities.find("commune", "60159")
    assert commune is not None
    assert (commune.name, commune.siren, commune.departement, commune.departement_name) == (
        "Compiègne",
        "216001586",
        "60",
        "Oise",
    )
    assert commune.postcodes == ("60200",)
    assert commune.population == 40_761
    assert commune.label == "Compiègne (60 – Oise)"

    oise = collectivities.find("departement", "60")
    assert oise is not None and oise.label == "Oise (60)"
    assert "60159" in oise.members
    assert oise.population == sum(
        entry.population
        for entry in store.catalogue().entries
        if entry.kind == "commune" and entry.departement == "60"
    )

    agglomeration = collectivities.find("epci", "200067965")
    assert agglomeration is not None
    assert agglomeration.name == "CA de la Région de Compiègne et de la Basse Automne"
    assert agglomeration.siren == "200067965" and agglomeration.departement == "60"
    assert "60159" in agglomeration.members and agglomeration.population > commune.population


def test_codes_are_read_as_the_list_spells_them() -> None:
    assert collectivities.find("commune", " 2a004 ").name == "Ajaccio"  # type: ignore[union-attr]
    assert collectivities.find("departement", "1").name == "Ain"  # type: ignore[union-attr]
    assert collectivities.find("departement", "974").name == "La Réunion"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("commune", "12"),
        ("commune", "99999"),
        ("commune", "216001586"),  # Compiègne's SIREN is not an INSEE code
        ("epci", "60159"),
        ("departement", "20"),  # Corsica is 2A and 2B
        ("departement", "975"),  # an overseas collectivity, not a département
        ("region", "32"),
        ("commune", ""),
        ("commune", "x" * 500),
    ],
)
def test_an_unknown_code_is_none(kind: str, code: str) -> None:
    assert collectivities.find(kind, code) is None


@pytest.mark.parametrize("query", ["compiegne", "Compiègne", "compiègne", "COMPIÈGNE", "  compiègne  "])
def test_compiegne_comes_first_however_it_is_typed(query: str) -> None:
    assert _codes(query)[0] == "60159"


@pytest.mark.parametrize("query", ["compiengne", "compiegn", "kompiegne", "compiène"])
def test_a_typo_still_finds_compiegne(query: str) -> None:
    assert _codes(query)[0] == "60159"


def test_searching_by_postcode_insee_siren_and_departement() -> None:
    assert "60159" in _codes("60200")
    assert _codes("60 200")[0] == "60159"
    assert _codes("60159")[0] == "60159"  # an INSEE code that is no postcode
    assert _codes("216001586") == ["60159"]  # a commune's SIREN
    assert _codes("200 067 965") == ["200067965"]  # an EPCI's
    assert _codes("2A004") == ["2A004"]
    oise = collectivities.search("60", 5)
    assert oise[0].kind == "departement" and oise[0].code == "60"
    assert all(found.departement == "60" for found in oise) and len(oise) == 5


def test_names_rank_exact_then_prefix_then_word_then_fuzzy_communes_first() -> None:
    found = collectivities.search("compiegne", 5)
    # Compiègne, then Margny-lès-Compiègne (a word of its name), then the EPCI.
    assert [f.code for f in found[:3]] == ["60159", "60382", "200067965"]
    assert _codes("compi")[0] == "60159"  # a prefix: the most populous first
    paris = collectivities.search("paris", 2)
    assert [(p.kind, p.code) for p in paris] == [("commune", "75056"), ("departement", "75")]
    assert _codes("st quentin")[0] == "02691"  # « st » is « saint »
    assert _codes("Saint-Étienne")[0] == "42218"
    assert _codes("communaute d agglomeration de la region de compiegne")[0] == "200067965"
    assert _codes("ca de la region de compiegne")[0] == "200067965"


def test_homonyms_are_told_apart_by_their_departement() -> None:
    namesakes = [found for found in collectivities.search("Saint-Martin", 20) if found.name == "Saint-Martin"]
    assert len(namesakes) == 5
    labels = [found.label for found in namesakes]
    assert len(set(labels)) == 5
    assert "Saint-Martin (67 – Bas-Rhin)" in labels and "Saint-Martin (32 – Gers)" in labels
    populations = [found.population for found in namesakes]
    assert populations == sorted(populations, reverse=True)  # the bigger first when all else ties


def test_a_label_typed_back_finds_that_collectivity_first() -> None:
    for code in ("60159", "67426", "32389", "2A004"):
        commune = collectivities.find("commune", code)
        assert commune is not None
        assert collectivities.search(commune.label)[0] == commune
    assert _codes("Saint-Martin (67)") == ["67426"]
    assert _codes("Compiègne (99 – Nulle part)") == []


@pytest.mark.parametrize("query", ["", "   ", "-'’", "x" * 10_000, "compiègne" * 50, "%_*", "\x00\u202e"])
def test_empty_odd_and_very_long_queries_are_answered(query: str) -> None:
    results = collectivities.search(query)
    assert isinstance(results, list) and len(results) <= 10


def test_limit_is_kept_between_one_and_fifty() -> None:
    assert len(collectivities.search("saint", 3)) == 3
    assert len(collectivities.search("saint", 0)) == 1
    assert len(collectivities.search("saint", 10_000)) == 50


def test_normalisation() -> None:
    assert normalise("Saint-Jean-d'Angély") == "saint jean d angely"
    assert normalise("St-Étienne") == "saint etienne"
    assert normalise("L’Haÿ-les-Roses") == "l hay les roses"
    assert normalise("Ste-Foy-lès-Lyon") == "sainte foy les lyon"
    assert normalise("ŒUVRE") == "oeuvre"


def test_the_list_is_built_once_even_when_threads_ask_together(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []
    real = store.build

    def counting(document: dict[str, Any]) -> store.Catalogue:
        builds.append(1)
        return real(document)

    monkeypatch.setattr(store, "build", counting)
    monkeypatch.setattr(store, "_loaded", [])
    barrier = threading.Barrier(4)
    seen: list[object] = []

    def ask() -> None:
        barrier.wait()
        seen.append(store.catalogue())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(builds) == 1 and len(seen) == 4 and all(found is seen[0] for found in seen)


# The regeneration script ------------------------------------------------------------------------------

FIXTURE_COMMUNES = [
    {"code": "60159", "nom": "Compiègne", "type": "commune-actuelle", "departement": "60", "zone": "metro",
     "siren": "216001586", "codesPostaux": ["60200"], "population": 40761},
    {"code": "60382", "nom": "Margny-lès-Compiègne", "type": "commune-actuelle", "departement": "60",
     "zone": "metro", "siren": "216003822", "codesPostaux": ["60280"], "population": 8000},
    {"code": "60999", "nom": "Ancienne", "type": "commune-deleguee", "departement": "60", "zone": "metro"},
    {"code": "97502", "nom": "Saint-Pierre", "type": "commune-actuelle", "departement": "975", "zone": "com",
     "codesPostaux": ["97500"], "population": 5194},
]  # fmt: skip
FIXTURE_DEPARTEMENTS = [
    {"code": "60", "nom": "Oise", "zone": "metro"},
    {"code": "975", "nom": "Saint-Pierre-et-Miquelon", "zone": "com"},
]
FIXTURE_EPCI = [
    {"code": "200067965", "nom": "CA de la Région de Compiègne", "type": "CA", "populationMunicipale": 48808,
     "membres": [{"code": "60159", "populationMunicipale": 40808}, {"code": "60382", "populationMunicipale": 8000}]},
    {"code": "200000001", "nom": "CC Sans Chiffre", "type": "CC",
     "membres": [{"code": "60382", "populationMunicipale": 8000}]},
]  # fmt: skip


def _tarball(folder: Path) -> Path:
    files = {
        "package/package.json": {
            "name": "@etalab/decoupage-administratif",
            "version": "0.0.1",
            "license": "MIT",
        },
        "package/data/communes.json": FIXTURE_COMMUNES,
        "package/data/departements.json": FIXTURE_DEPARTEMENTS,
        "package/data/epci.json": FIXTURE_EPCI,
    }
    path = folder / "release.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            raw = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path


def test_the_script_builds_a_loadable_list_from_a_release(tmp_path: Path) -> None:
    script = _script()
    output = tmp_path / "out.json.gz"
    script.main([str(_tarball(tmp_path)), "--output", str(output)])
    first = output.read_bytes()
    script.main([str(_tarball(tmp_path)), "--output", str(output)])
    assert output.read_bytes() == first  # reproducible: same release, same bytes

    document = json.loads(gzip.decompress(first))
    assert (document["dataset"], document["version"]) == ("@etalab/decoupage-administratif", "0.0.1")
    assert [c[0] for c in document["communes"]] == ["60159", "60382", "97502"]  # no delegated commune
    assert document["departements"] == [["60", "Oise", 48761, None]]  # the sum of its communes
    assert document["territories"] == {"975": "Saint-Pierre-et-Miquelon"}
    assert document["epci"][0][3] == 8000  # no population given: the sum of its members'

    built = store.build(document)
    assert built.dataset == "@etalab/decoupage-administratif 0.0.1"
    assert built.by_code[("commune", "97502")].label == "Saint-Pierre (975 – Saint-Pierre-et-Miquelon)"
    assert built.by_code[("epci", "200067965")].departement == "60"
    assert built.by_postcode["60200"][0].code == "60159"


def test_the_shipped_file_is_what_the_script_writes_from_its_release(tmp_path: Path) -> None:
    """The shipped file, decoded and encoded again by the script, is byte for byte the same: it is the
    script's output (the release itself is checked by the counts above)."""
    script = _script()
    document = json.loads(gzip.decompress(SHIPPED.read_bytes()))
    assert script.encode(document) == SHIPPED.read_bytes()
    assert document["format"] == script.FORMAT


@pytest.mark.skipif(
    not os.environ.get("BIPPOP_DECOUPAGE_TARBALL"),
    reason="BIPPOP_DECOUPAGE_TARBALL unset (npm pack @etalab/decoupage-administratif@6.0.0)",
)
def test_the_release_tarball_gives_the_shipped_file_byte_for_byte(tmp_path: Path) -> None:
    output = tmp_path / "collectivities.json.gz"
    _script().main([os.environ["BIPPOP_DECOUPAGE_TARBALL"], "--output", str(output)])
    assert output.read_bytes() == SHIPPED.read_bytes()
