"""Delayed calls on one daemon thread per process: a progress line due in a few seconds, a warehouse file released
after a moment without statements. Each would otherwise start a thread of its own per statement, which a small
load pays for in thread start-ups (and on a busy machine, in waits for the new thread to be scheduled)."""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

_log = logging.getLogger(__name__)


class Call:
    """A call scheduled with `later`; `cancel()` stops it if it has not started."""

    __slots__ = ("when", "order", "fn", "cancelled")

    def __init__(self, when: float, order: int, fn: Callable[[], None]):
        self.when, self.order, self.fn, self.cancelled = when, order, fn, False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Call) -> bool:
        return (self.when, self.order) < (other.when, other.order)


class _Timers:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._wake = threading.Condition(threading.Lock())
        self._due: list[Call] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def later(self, seconds: float, fn: Callable[[], None]) -> Call:
        call = Call(time.monotonic() + seconds, next(self._order), fn)
        with self._wake:
            heapq.heappush(self._due, call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dbload-timers", daemon=True)
                self._thread.start()
            elif self._due[0] is call:
                self._wake.notify()
        return call

    def _run(self) -> None:
        while True:
            with self._wake:
                while True:
                    while self._due and self._due[0].cancelled:
                        heapq.heappop(self._due)
                    wait = self._due[0].when - time.monotonic() if self._due else None
                    if wait is not None and wait <= 0:
                        call = heapq.heappop(self._due)
                        break
                    self._wake.wait(wait)
            try:
                call.fn()
            except Exception:  # noqa: BLE001 - one failing call must not stop the others
                _log.exception("A delayed call of dagster-dbload failed.")


_TIMERS = _Timers()
if hasattr(os, "register_at_fork"):  # a forked child has no timer thread: it starts its own when it needs one
    os.register_at_fork(after_in_child=_TIMERS._reset)


def later(seconds: float, fn: Callable[[], None]) -> Call:
    """Call `fn` on the timer thread in `seconds` (unless cancelled first). `fn` must not block: the calls due
    after it wait for it."""
    return _TIMERS.later(seconds, fn)
