"""Times shown to people: the tenants are French communes, so pages show Paris time."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

LOCAL_TIME = ZoneInfo("Europe/Paris")


def local_time(moment: datetime.datetime | None) -> datetime.datetime | None:
    return moment.astimezone(LOCAL_TIME) if moment is not None else None
