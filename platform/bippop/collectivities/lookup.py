"""``find`` a collectivity by its official code, ``search`` one by what a council types.

What a query is taken for, from its shape (spaces and dots ignored in numbers):

- 9 digits: a SIREN (a commune's or an EPCI's);
- 5 digits: a postcode (its communes, most populous first), then the commune with that INSEE code;
- 2A or 2B and 3 digits: a Corsican INSEE code;
- 2 digits, 2A, 2B or 97x: a département, then its most populous communes;
- anything else: a name (``names.NameIndex``), typo-tolerant and accent-insensitive; a name followed
  by its département in brackets, as ``Collectivity.label`` writes it, keeps that département's.

Names rank by tier (exact, prefix, word prefix, fuzzy), then fuzzy score, then communes before EPCI
before départements, then the bigger population. A query is cut at 100 characters.
"""

from __future__ import annotations

import re

from bippop.collectivities.model import Collectivity
from bippop.collectivities.names import MAX_QUERY, normalise
from bippop.collectivities.store import Catalogue, catalogue

MAX_LIMIT = 50

_SIREN = re.compile(r"\d{9}")
_FIVE_DIGITS = re.compile(r"\d{5}")
_CORSICAN_INSEE = re.compile(r"2[AB]\d{3}")
_DEPARTEMENT = re.compile(r"\d{2}|2[AB]|97\d")
_LABELLED = re.compile(r"(?P<name>.+?)\s*\(\s*(?P<departement>\d{2,3}|2[ABab])\b[^()]*\)")


def official_code(kind: str, code: str) -> str:
    """A code as the list spells it: trimmed, upper case, spaces dropped, « 1 » → « 01 »."""
    cleaned = "".join(str(code).split()).upper()[:20]
    if kind == "departement" and cleaned.isdigit() and len(cleaned) == 1:
        return "0" + cleaned
    return cleaned


def find(kind: str, code: str) -> Collectivity | None:
    """The collectivity of kind ``kind`` (commune, epci, departement) and official code ``code``."""
    return catalogue().by_code.get((kind, official_code(kind, code)))


def _by_code(data: Catalogue, compact: str, limit: int) -> list[Collectivity] | None:
    """The answer to a query shaped like a code, or None when it is not one."""
    if _SIREN.fullmatch(compact):
        found = data.by_siren.get(compact)
        return [found] if found else []
    if _FIVE_DIGITS.fullmatch(compact) or _CORSICAN_INSEE.fullmatch(compact):
        results = list(data.by_postcode.get(compact, ()))
        commune = data.by_code.get(("commune", compact))
        if commune is not None and commune not in results:
            results.append(commune)
        return results[:limit]
    if _DEPARTEMENT.fullmatch(compact):
        departement = data.by_code.get(("departement", compact))
        if departement is None:
            return []
        return [departement, *data.communes_of.get(compact, ())[: limit - 1]]
    return None


def search(query: str, limit: int = 10) -> list[Collectivity]:
    """At most ``limit`` (1 to 50) collectivities matching ``query``, best first; [] for nothing."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = (query or "")[:MAX_QUERY]
    data = catalogue()
    compact = re.sub(r"[\s.]", "", query).upper()
    coded = _by_code(data, compact, limit)
    if coded is not None:
        return coded
    within = _LABELLED.fullmatch(query.strip())
    if within is not None:  # a label typed or pasted back: « Saint-Martin (67 – Bas-Rhin) »
        query, departement = within.group("name"), within.group("departement").upper()
        return [found for found in search(query, MAX_LIMIT) if found.departement == departement][:limit]
    wanted = normalise(query)
    if not wanted:
        return []
    return [data.entries[number] for number in data.names.match(wanted, limit)]
