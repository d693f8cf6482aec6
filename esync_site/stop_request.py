"""Ctrl-C and SIGTERM as a flag that long-running loops check between steps."""

from __future__ import annotations

import signal


class StopRequest:
    """Installs SIGINT and SIGTERM handlers that only record the request.

    The supervisor and the demo then stop their children in order, instead of being torn down
    by a KeyboardInterrupt in the middle of starting or stopping one.
    """

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._record)
        signal.signal(signal.SIGTERM, self._record)

    def _record(self, signum, frame) -> None:
        self.requested = True

    def __bool__(self) -> bool:
        return self.requested
