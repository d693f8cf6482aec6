"""What this instance reports of itself to peers: its UTC time and its esync version.

Two environment variables shift them, for testing the hello checks against a real peer whose
clock or version differs: ESYNC_CLOCK_OFFSET_SECONDS and ESYNC_REPORTED_VERSION. Neither is
set in normal use.
"""

from __future__ import annotations

import datetime as dt
import os

from esync_site import ESYNC_VERSION


def utc_now() -> dt.datetime:
    offset = float(os.environ.get("ESYNC_CLOCK_OFFSET_SECONDS", "0") or 0)
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)


def reported_version() -> str:
    return os.environ.get("ESYNC_REPORTED_VERSION") or ESYNC_VERSION


def same_major_minor(a: str, b: str) -> bool:
    return a.split(".")[:2] == b.split(".")[:2]
