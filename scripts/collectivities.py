"""Regenerate ``platform/bippop/collectivities/data/collectivities.json.gz`` from an official release.

The tenant registry checks a tenant's official code against the French administrative division,
and the onboarding wizard searches it (``bippop.collectivities``). That list comes from the npm
package ``@etalab/decoupage-administratif`` (MIT, built by Etalab from INSEE's official geographic
code, the DGCL's list of EPCI and La Poste's postcodes). This script reads a release tarball as
``npm pack`` downloads it and writes one compact, reproducible file (same tarball, same bytes):

    {"dataset": "@etalab/decoupage-administratif", "version": "6.0.0", "licence": "MIT", …,
     "communes":     [[insee, name, département, siren|null, [postcodes], population], …],
     "departements": [[code, name, population, siren|null], …],
     "territories":  {"975": "Saint-Pierre-et-Miquelon", …},
     "epci":         [[siren, name, nature, population, [member insee codes]], …]}

What is kept: the current communes (type ``commune-actuelle``: delegated and associated communes
and municipal arrondissements are not collectivities one can sign up); the départements of
metropolitan France and the overseas départements (zones ``metro`` and ``drom``; a département's
population is the sum of its communes', the release gives none); the names of the overseas
collectivities (zone ``com``), which label their communes; every EPCI with its members (its
population is the release's ``populationMunicipale``, else the sum of its members'). A missing
population is 0. Rows are sorted by code; the gzip header carries no name and no date.

    cd /tmp && npm pack @etalab/decoupage-administratif@6.0.0
    .venv/bin/python scripts/collectivities.py /tmp/etalab-decoupage-administratif-6.0.0.tgz
    .venv/bin/python scripts/collectivities.py release.tgz --output /tmp/collectivities.json.gz
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "platform" / "bippop" / "collectivities" / "data"
OUTPUT_FILE = OUTPUT / "collectivities.json.gz"
FORMAT = 1
DEPARTEMENT_ZONES = ("metro", "drom")


def _member(archive: tarfile.TarFile, name: str) -> Any:
    """A JSON file of the npm tarball (its files sit under ``package/``)."""
    extracted = archive.extractfile(f"package/{name}")
    if extracted is None:
        raise SystemExit(f"{name}: not a file in the tarball")
    return json.loads(extracted.read().decode("utf-8"))


def read_release(tarball: Path) -> dict[str, Any]:
    """The release's metadata and its four lists, straight from the tarball."""
    with tarfile.open(tarball, "r:gz") as archive:
        return {
            "package": _member(archive, "package.json"),
            "communes": _member(archive, "data/communes.json"),
            "departements": _member(archive, "data/departements.json"),
            "epci": _member(archive, "data/epci.json"),
        }


def build(release: dict[str, Any]) -> dict[str, Any]:
    """The shipped document, from what :func:`read_release` returned."""
    package = release["package"]
    communes = sorted(
        (
            [
                row["code"],
                row["nom"],
                row["departement"],
                row.get("siren"),
                sorted(set(row.get("codesPostaux") or ())),
                int(row.get("population") or 0),
            ]
            for row in release["communes"]
            if row.get("type") == "commune-actuelle"
        ),
        key=lambda commune: commune[0],
    )
    inhabitants: Counter[str] = Counter()
    for commune in communes:
        inhabitants[commune[2]] += commune[5]
    departements = sorted(
        [row["code"], row["nom"], inhabitants[row["code"]], row.get("siren")]
        for row in release["departements"]
        if row.get("zone") in DEPARTEMENT_ZONES
    )
    territories = {
        row["code"]: row["nom"]
        for row in sorted(release["departements"], key=lambda row: row["code"])
        if row.get("zone") not in DEPARTEMENT_ZONES
    }
    epci = sorted(
        [
            row["code"],
            row["nom"],
            row.get("type") or "",
            int(
                row.get("populationMunicipale")
                or sum(m.get("populationMunicipale") or 0 for m in row["membres"])
            ),
            [member["code"] for member in row["membres"]],
        ]
        for row in release["epci"]
    )
    return {
        "dataset": package["name"],
        "version": package["version"],
        "licence": package.get("license", ""),
        "source": package.get("repository", ""),
        "format": FORMAT,
        "communes": communes,
        "departements": departements,
        "territories": territories,
        "epci": epci,
    }


def encode(document: dict[str, Any]) -> bytes:
    """Compact JSON, gzipped without a file name or a date: the same document gives the same bytes."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as out:
        out.write(text.encode("utf-8"))
    return buffer.getvalue()


def regenerate(tarball: Path, output: Path = OUTPUT_FILE) -> dict[str, Any]:
    """Read ``tarball``, write ``output``; returns the document written."""
    document = build(read_release(tarball))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(encode(document))
    return document


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "tarball", type=Path, help="a release tarball (npm pack @etalab/decoupage-administratif@X)"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT_FILE, help=f"default: {OUTPUT_FILE}")
    args = parser.parse_args(argv)
    document = regenerate(args.tarball, args.output)
    print(
        f"{args.output}: {document['dataset']} {document['version']} — "
        f"{len(document['communes'])} communes, {len(document['departements'])} départements, "
        f"{len(document['epci'])} EPCI ({args.output.stat().st_size:,} bytes)"
    )


if __name__ == "__main__":
    main()
