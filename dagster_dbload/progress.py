"""Progress of a long load in the run log: rows and MiB staged (with MiB/s), then how long the load statement
has run. Nothing is logged for a load shorter than `every` seconds; checks cost a clock read per row group."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from . import timers


class Progress:
    def __init__(self, log: Callable[[str], None], every: float, who: str):
        self.log, self.every, self.who = log, every, who
        self.start = self.last = time.monotonic()
        self.rows = self.bytes = 0

    def staged(self, rows: int, nbytes: int) -> None:
        """Count a row group handed to the stager; log when `every` seconds passed since the last line."""
        self.rows += rows
        self.bytes += nbytes
        now = time.monotonic()
        if self.every and now - self.last >= self.every:
            self.last = now
            mib = self.bytes / 2**20
            self.log(f"{self.who}: staged {self.rows:,} rows, {mib:,.1f} MiB ({mib / (now - self.start):,.1f} MiB/s)")

    @contextlib.contextmanager
    def statement(self, kind: str) -> Iterator[None]:
        """While the load statement runs: a line every `every` seconds (from the package's timer thread, so no
        thread is started per statement), and one when it ends after that long."""
        if not self.every:
            yield
            return
        start = time.monotonic()
        lock = threading.Lock()
        running: list[timers.Call] = []  # the next line's call, while the statement runs

        def report() -> None:
            with lock:
                if running:
                    self.log(f"{self.who}: the {kind} statement has run for {time.monotonic() - start:,.0f} s")
                    running[0] = timers.later(self.every, report)

        running.append(timers.later(self.every, report))
        try:
            yield
        finally:
            with lock:
                running.pop().cancel()
            elapsed = time.monotonic() - start
            if elapsed >= self.every:
                self.log(f"{self.who}: the {kind} statement finished in {elapsed:,.1f} s")
