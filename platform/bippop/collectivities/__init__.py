"""The official French collectivities: communes, EPCI and départements, found by code or searched.

A tenant's ``(kind, official_code)`` must name one of them (the tenant registry checks it), and the
onboarding wizard and the public site's price finder search them by name, postcode, INSEE code,
SIREN or département number. The list ships with the project (``data/collectivities.json.gz``,
regenerated from a release of ``@etalab/decoupage-administratif`` by ``scripts/collectivities.py``)
and is read once per process, on the first question.

    from bippop import collectivities
    collectivities.find("commune", "60159").label        # « Compiègne (60 – Oise) »
    collectivities.search("compiengne")[0].code          # « 60159 »
    collectivities.DATASET                               # « @etalab/decoupage-administratif 6.0.0 »

This package sits at the bottom layer, beside ``config``: it imports nothing of the platform.
"""

from __future__ import annotations

from bippop.collectivities.lookup import find, official_code, search
from bippop.collectivities.model import KINDS, Collectivity
from bippop.collectivities.names import normalise
from bippop.collectivities.store import catalogue

__all__ = ["DATASET", "KINDS", "Collectivity", "find", "normalise", "official_code", "search"]

DATASET: str


def __getattr__(name: str) -> str:
    # ``DATASET`` (« @etalab/decoupage-administratif 6.0.0 ») is read from the file: on first use.
    if name == "DATASET":
        return catalogue().dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
