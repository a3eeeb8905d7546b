"""Finding collectivities by name: normalised, by exact name, prefix, word prefix, then fuzzily.

Names and queries are compared once normalised (:func:`normalise`): accents stripped, lower case,
hyphens, apostrophes and other punctuation as spaces, « st »/« ste » spelt « saint »/« sainte ». An
EPCI is also found by its nature spelt out (« CA du Compiégnois » as « communauté d'agglomération
du compiégnois »).

Tiers, best first: the exact name; a name starting with the query; a word of the name starting
with the query (« compiègne » finds « Margny-lès-Compiègne »); then a typo-tolerant match scored
by rapidfuzz's normalised Indel similarity (``fuzz.ratio``) against the whole name, or against the
name from one of its words on (a little less), for queries of three characters or more.

Two prefilters keep a search over the whole list to a few milliseconds: when the first three tiers
already fill the page, nothing is scored fuzzily (no fuzzy match could outrank them); otherwise only
the names whose length can still reach the cutoff are scored (``ratio`` ≥ c needs a length ratio of
at least c / (200 - c)): the names are kept sorted by length and that window is one slice.
"""

from __future__ import annotations

import bisect
import heapq
import re
import unicodedata
from collections.abc import Sequence

from rapidfuzz import fuzz, process

from bippop.collectivities.model import KIND_ORDER, Collectivity

MAX_QUERY = 100
MIN_FUZZY = 3  # a typo in one or two letters is no name yet
FUZZY_CUTOFF = 75.0
WORD_CUTOFF = 85.0
WORD_WEIGHT = 0.95  # a typo-tolerant match from a word on ranks a little under one on the whole name
TIER_EXACT, TIER_PREFIX, TIER_WORD, TIER_FUZZY = 4, 3, 2, 1

_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_PUNCTUATION = re.compile(r"[\W_]+")  # on composed text: « é » is a letter, « ’ » and « – » are not
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_WORDS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_NATURES = {
    "ca": "communaute d agglomeration",
    "cc": "communaute de communes",
    "cu": "communaute urbaine",
}


def normalise(text: str) -> str:
    """« Saint-Jean-d'Angély » → « saint jean d angely »; « St-Étienne » → « saint etienne »."""
    spaced = _PUNCTUATION.sub(" ", unicodedata.normalize("NFC", text[: MAX_QUERY * 2]))
    decomposed = unicodedata.normalize("NFKD", spaced.translate(_LIGATURES))
    # What NFKD leaves outside ASCII is an accent (combining mark) or a letter no French name has.
    bare = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(_WORDS.get(word, word) for word in _NOT_ALNUM.sub(" ", bare).split())


def _keys_of(entry: Collectivity) -> set[str]:
    key = normalise(entry.name)
    keys = {key}
    if entry.kind == "epci":
        first, _, rest = key.partition(" ")
        if first in _NATURES:
            keys.add(f"{_NATURES[first]} {rest}".strip())
    return keys


def _tails(key: str) -> list[str]:
    """« margny les compiegne » → « les compiegne », « compiegne »."""
    words = key.split(" ")
    return [" ".join(words[start:]) for start in range(1, len(words))]


class _ByLength:
    """Strings sorted by length, each with its owner: the slice whose length can reach a cutoff."""

    def __init__(self, items: Sequence[tuple[str, int]]) -> None:
        ordered = sorted(items, key=lambda item: (len(item[0]), item[0]))
        self.texts = [text for text, _ in ordered]
        self.owners = [owner for _, owner in ordered]
        self.lengths = [len(text) for text in self.texts]

    def near(self, length: int, cutoff: float) -> tuple[int, int]:
        shortest = length * cutoff / (200 - cutoff)
        longest = length * (200 - cutoff) / cutoff
        return bisect.bisect_left(self.lengths, shortest), bisect.bisect_right(self.lengths, longest)

    def fuzzy(self, query: str, cutoff: float, limit: int) -> list[tuple[int, float]]:
        low, high = self.near(len(query), cutoff)
        found = process.extract(
            query, self.texts[low:high], scorer=fuzz.ratio, score_cutoff=cutoff, limit=limit
        )
        return [(self.owners[low + position], score) for _, score, position in found]


class NameIndex:
    """The normalised names (and EPCI aliases) of a catalogue's entries.

    ``rank[entry]``: the entry's place when tiers and scores tie (communes before EPCI before
    départements, then the bigger population); ``key_rank[key]``: the best rank among a name's
    entries, which picks the best of a long prefix range without looking at all of it.
    """

    def __init__(self, entries: Sequence[Collectivity]) -> None:
        order = sorted(
            range(len(entries)), key=lambda n: (KIND_ORDER[entries[n].kind], -entries[n].population)
        )
        self.rank = [0] * len(entries)
        for place, number in enumerate(order):
            self.rank[number] = place
        owners: dict[str, list[int]] = {}
        for number, entry in enumerate(entries):
            for key in _keys_of(entry):
                owners.setdefault(key, []).append(number)
        self.keys = sorted(owners)
        self.owners = [tuple(owners[key]) for key in self.keys]
        self.key_rank = [min(self.rank[n] for n in group) for group in self.owners]
        self.exact = {key: position for position, key in enumerate(self.keys)}
        # Every name from its second, third… word on: « margny les compiegne » → « les compiegne », « compiegne ».
        tails = sorted((tail, position) for position, key in enumerate(self.keys) for tail in _tails(key))
        self.tails = [tail for tail, _ in tails]
        self.tail_owner = [position for _, position in tails]
        self.tail_rank = [self.key_rank[position] for position in self.tail_owner]
        self.whole = _ByLength([(key, position) for position, key in enumerate(self.keys)])
        self.from_word = _ByLength(tails)

    def _best_prefixed(self, texts: list[str], ranks: list[int], query: str, count: int) -> list[int]:
        """The ``count`` best-ranked positions of ``texts`` (sorted) that start with ``query``."""
        low, high = bisect.bisect_left(texts, query), bisect.bisect_left(texts, query + "\x7f")
        if high - low <= count:
            return list(range(low, high))
        return heapq.nsmallest(count, range(low, high), key=ranks.__getitem__)

    def match(self, query: str, limit: int) -> list[int]:
        """The best ``limit`` entries (their numbers) whose name matches ``query``, already normalised."""
        best: dict[int, tuple[int, float]] = {}

        def keep(position: int, tier: int, score: float) -> None:
            for entry in self.owners[position]:
                if best.get(entry, (0, 0.0)) < (tier, score):
                    best[entry] = (tier, score)

        if (position := self.exact.get(query)) is not None:
            keep(position, TIER_EXACT, 100.0)
        for position in self._best_prefixed(self.keys, self.key_rank, query, limit):
            keep(position, TIER_PREFIX, 100.0)
        # A name may have several tails starting alike (« saint x saint y »): a few more to cover them.
        for index in self._best_prefixed(self.tails, self.tail_rank, query, limit * 3):
            keep(self.tail_owner[index], TIER_WORD, 100.0)
        # Fuzzy matches rank under every match above: when those fill the page, they cannot enter it.
        if len(query) >= MIN_FUZZY and len(best) < limit:
            wanted = max(limit * 3, 30)
            for position, score in self.whole.fuzzy(query, FUZZY_CUTOFF, wanted):
                keep(position, TIER_FUZZY, score)
            for position, score in self.from_word.fuzzy(query, WORD_CUTOFF, wanted):
                keep(position, TIER_FUZZY, score * WORD_WEIGHT)

        def order(entry: int) -> tuple[int, float, int]:
            tier, score = best[entry]
            return (-tier, -round(score) if tier == TIER_FUZZY else 0, self.rank[entry])

        return heapq.nsmallest(limit, best, key=order)
