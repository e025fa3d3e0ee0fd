"""Stopping on SIGTERM and SIGHUP the way Ctrl-C stops: by raising KeyboardInterrupt in the main thread.

Every command already handles KeyboardInterrupt: temporary files are removed, and
training saves the best generator so far, marked as interrupted. `timeout`, `kill`,
job schedulers and a closed terminal send SIGTERM or SIGHUP instead of SIGINT.
"""

from __future__ import annotations

import signal
from types import FrameType

# exit status after Ctrl-C, as shells report 128 + SIGINT
INTERRUPTED = 130

_received: int | None = None


def stop_on_signals() -> None:
    """Make SIGTERM and SIGHUP raise KeyboardInterrupt. Call from the main thread.

    A signal that is ignored when ganpat starts (SIGHUP under nohup) stays ignored.
    """
    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) is signal.SIG_IGN:
            continue
        signal.signal(number, _interrupt)


def exit_status(code: int | str | None) -> int | str | None:
    """Return 128 + the signal number in place of 130 when SIGTERM or SIGHUP stopped the command.

    So SIGTERM gives 143 and SIGHUP 129, the statuses a shell reports for a process those signals killed.
    """
    if code == INTERRUPTED and _received is not None:
        return 128 + _received
    return code


def _interrupt(number: int, frame: FrameType | None) -> None:
    global _received
    # a repeated signal must not break off the cleanup that the first one started
    if _received is not None:
        return
    _received = number
    raise KeyboardInterrupt
