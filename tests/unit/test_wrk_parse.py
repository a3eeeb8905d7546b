"""The page benchmark reads wrk's report (``wrk_output.parse``): figures, units and error lines."""

from __future__ import annotations

import pytest

from wrk_output import WrkOutputError, parse

CLEAN = """\
Running 5s test @ http://127.0.0.1:40123/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    1.02ms  20.00ms   90.00%
    Req/Sec     6.25k   500.00     7.00k    80.00%
  Latency Distribution
     50%    4.95ms
     75%    5.50ms
     90%    6.00ms
     99%  850.00us
  31100 requests in 5.00s, 4.50MB read
Requests/sec:   6219.87
Transfer/sec:    900.00KB
"""

WITH_ERRORS = """\
Running 10s test @ http://127.0.0.1:40123/benevole/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   120.40ms   30.10ms    1.20s    70.00%
    Req/Sec   265.00     40.00   320.00     60.00%
  Latency Distribution
     50%  110.00ms
     75%  130.00ms
     90%  160.00ms
     99%    1.02s
  2650 requests in 10.01s, 12.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 17
Requests/sec:    264.73
Transfer/sec:      1.20MB
"""


def test_a_clean_run() -> None:
    result = parse(CLEAN)
    assert result.requests == 31100
    assert result.duration_s == pytest.approx(5.0)
    assert result.requests_per_s == pytest.approx(6219.87)
    assert result.p50_s == pytest.approx(0.00495)
    assert result.percentiles_s[75] == pytest.approx(0.0055)
    assert result.p99_s == pytest.approx(0.00085)  # microseconds
    assert result.non_2xx_3xx == 0 and result.socket_errors == {} and result.errors == 0


def test_errors_and_seconds() -> None:
    result = parse(WITH_ERRORS)
    assert result.requests == 2650
    assert result.duration_s == pytest.approx(10.01)
    assert result.p50_s == pytest.approx(0.110)
    assert result.p99_s == pytest.approx(1.02)
    assert result.non_2xx_3xx == 17
    assert result.socket_errors == {"connect": 0, "read": 3, "write": 0, "timeout": 2}
    assert result.errors == 22


def test_minutes() -> None:
    result = parse(CLEAN.replace("99%  850.00us", "99%    1.50m"))
    assert result.p99_s == pytest.approx(90.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "unable to connect to 127.0.0.1:1 Connection refused\n",
        CLEAN.replace("Requests/sec:   6219.87\n", ""),
        "\n".join(line for line in CLEAN.splitlines() if "%" not in line or "Stdev" in line),
    ],
)
def test_what_is_not_a_report(text: str) -> None:
    with pytest.raises(WrkOutputError):
        parse(text)
