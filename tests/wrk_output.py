"""What a ``wrk --latency`` run printed, read back: throughput, latency percentiles and errors.

Beside ``support.py`` so that both the page benchmark (tests/benchmarks) and its unit test
(tests/unit/test_wrk_parse.py) import it as ``wrk_output``. The format is the one wrk 4 prints
(``src/wrk.c``): times with a unit among us, ms, s, m and h; the "Socket errors" and "Non-2xx or 3xx
responses" lines appear only when there were some.
"""

from __future__ import annotations

import dataclasses
import re

TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TIME = r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)"

_REQUESTS = re.compile(r"^\s*([0-9]+) requests in " + _TIME + r",", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s*([0-9]+(?:\.[0-9]+)?)\s*$", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*([0-9]+)%\s+" + _TIME + r"\s*$", re.MULTILINE)
_SOCKET = re.compile(
    r"^\s*Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)\s*$",
    re.MULTILINE,
)
_STATUS = re.compile(r"^\s*Non-2xx or 3xx responses: ([0-9]+)\s*$", re.MULTILINE)


class WrkOutputError(ValueError):
    """The text is not what ``wrk --latency`` prints at the end of a run."""


@dataclasses.dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    percentiles_s: dict[int, float]  # 50, 75, 90, 99 -> seconds
    non_2xx_3xx: int = 0
    socket_errors: dict[str, int] = dataclasses.field(default_factory=dict)  # connect, read, write, timeout

    @property
    def p50_s(self) -> float:
        return self.percentiles_s[50]

    @property
    def p99_s(self) -> float:
        return self.percentiles_s[99]

    @property
    def errors(self) -> int:
        """Answers outside 2xx/3xx and socket errors, together."""
        return self.non_2xx_3xx + sum(self.socket_errors.values())


def seconds(value: str, unit: str) -> float:
    return float(value) * TIME_UNITS[unit]


def parse(text: str) -> WrkResult:
    """The figures of one wrk run; raises :class:`WrkOutputError` when a mandatory line is missing."""
    requests = _REQUESTS.search(text)
    rate = _RATE.search(text)
    if requests is None or rate is None:
        raise WrkOutputError(f"no 'requests in' or 'Requests/sec' line in wrk's output:\n{text[-2000:]}")
    percentiles = {int(p): seconds(value, unit) for p, value, unit in _PERCENTILE.findall(text)}
    if 50 not in percentiles or 99 not in percentiles:
        raise WrkOutputError(f"no latency distribution (run wrk with --latency):\n{text[-2000:]}")
    socket = _SOCKET.search(text)
    status = _STATUS.search(text)
    return WrkResult(
        requests=int(requests.group(1)),
        duration_s=seconds(requests.group(2), requests.group(3)),
        requests_per_s=float(rate.group(1)),
        percentiles_s=percentiles,
        non_2xx_3xx=int(status.group(1)) if status else 0,
        socket_errors=(
            dict(zip(("connect", "read", "write", "timeout"), map(int, socket.groups()), strict=True))
            if socket
            else {}
        ),
    )
