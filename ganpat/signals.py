"""Stopping on SIGTERM and SIGHUP the way Ctrl-C stops: by raising KeyboardInterrupt in the main thread.

Every command already handles KeyboardInterrupt: temporary files are removed, and
training saves the best generator so far, marked as interrupted. `timeout`, `kill`,
job schedulers and a closed terminal send SIGTERM or SIGHUP instead of SIGINT.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from types import FrameType
from typing import Iterator

# exit status after Ctrl-C, as shells report 128 + SIGINT
INTERRUPTED = 130

_received: int | None = None
# set inside deferred(): a stop signal is recorded, and raised when the block ends
_deferring = False
_pending = False


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


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block ends, then raise KeyboardInterrupt if one came.

    Training uses it around the saves that belong together: a model, its log and its
    checkpoint, or every seed of --seeds. A stop signal then cannot leave some of
    them from the new run and the rest from an earlier one. Outside the main thread
    it does nothing, because only that thread can set signal handlers.
    """
    global _deferring, _pending
    if threading.current_thread() is not threading.main_thread() or _deferring:
        yield
        return
    previous_handler = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, _interrupt)
    _deferring, _pending = True, False
    try:
        yield
    finally:
        _deferring = False
        signal.signal(signal.SIGINT, previous_handler)
    if _pending:
        _pending = False
        raise KeyboardInterrupt


def _interrupt(number: int, frame: FrameType | None) -> None:
    global _received, _pending
    if _deferring:
        _pending = True
        if number != signal.SIGINT and _received is None:
            _received = number
        return
    # a repeated signal must not break off the cleanup that the first one started
    if _received is not None:
        return
    _received = number
    raise KeyboardInterrupt
