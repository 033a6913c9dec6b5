"""FHIR date, dateTime and instant values as ranges of naive UTC datetimes.

A partial date stands for the whole period it names: ``2024`` is every instant of 2024.
``date_range`` returns the inclusive (low, high) bounds; the search index stores them and
the date prefixes (eq, gt, sa, ...) compare against them.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from typing import Any

MIN_DATE = datetime(1, 1, 1)
MAX_DATE = datetime(9999, 12, 31, 23, 59, 59, 999999)

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})"
    r"(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(\.(?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$")


def _to_utc(value: datetime, tz: str | None) -> datetime:
    if not tz or tz == "Z":
        offset = timedelta(0)
    else:
        sign = 1 if tz[0] == "+" else -1
        offset = sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    return (value - offset).replace(tzinfo=None)


def date_range(text: str) -> tuple[datetime, datetime]:
    """The inclusive UTC range a FHIR date/dateTime/instant stands for; ValueError if bad."""
    m = _DATE_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a FHIR date: {text!r}")
    y = int(m["y"])
    if m["m"] is None:
        return datetime(y, 1, 1), datetime(y, 12, 31, 23, 59, 59, 999999)
    mo = int(m["m"])
    if m["d"] is None:
        last = calendar.monthrange(y, mo)[1]
        return datetime(y, mo, 1), datetime(y, mo, last, 23, 59, 59, 999999)
    d = int(m["d"])
    if m["H"] is None:
        return datetime(y, mo, d), datetime(y, mo, d, 23, 59, 59, 999999)
    base = datetime(y, mo, d, int(m["H"]), int(m["M"]))
    if m["S"] is None:
        low, span = base, timedelta(minutes=1)
    elif m["f"] is None:
        low, span = base.replace(second=int(m["S"])), timedelta(seconds=1)
    else:
        digits = m["f"][:6]
        micro = int(digits.ljust(6, "0"))
        low = base.replace(second=int(m["S"]), microsecond=micro)
        span = timedelta(microseconds=10 ** (6 - len(digits)))
    low = _to_utc(low, m["tz"])
    return low, low + span - timedelta(microseconds=1)


def period_range(period: dict[str, Any]) -> tuple[datetime, datetime]:
    """The range of a FHIR Period; an open end is unbounded."""
    low = date_range(period["start"])[0] if period.get("start") else MIN_DATE
    high = date_range(period["end"])[1] if period.get("end") else MAX_DATE
    return low, high


def instant(value: datetime) -> str:
    """A datetime (aware, or naive UTC as the store keeps them) as a FHIR instant."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
