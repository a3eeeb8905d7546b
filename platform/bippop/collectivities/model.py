"""One official French collectivity: a commune, an EPCI or a département."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("commune", "epci", "departement")
KIND_ORDER = {kind: place for place, kind in enumerate(KINDS)}  # communes first when all else ties


@dataclass(frozen=True, slots=True)
class Collectivity:
    """A collectivity of the official list, as a tenant's ``(kind, official_code)`` names it.

    ``code`` is the tenant's official code: the INSEE code of a commune, the SIREN of an EPCI, the
    number of a département. ``departement`` is where it lies: a commune's own, an EPCI's where most
    of its inhabitants live, a département itself. ``members``: an EPCI's communes (INSEE codes), a
    département's communes; empty for a commune.
    """

    kind: str
    code: str
    name: str
    siren: str | None
    departement: str
    departement_name: str
    postcodes: tuple[str, ...] = ()
    population: int = 0
    members: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """What tells homonyms apart: « Compiègne (60 – Oise) », « Oise (60) »."""
        if self.kind == "departement":
            return f"{self.name} ({self.code})"
        return f"{self.name} ({self.departement} – {self.departement_name})"
