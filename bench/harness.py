"""Shared by the benchmarks: fresh process per case, peak RSS sampling, a markdown table of medians."""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping

import psutil

Case = Callable[[int, str], Callable[[], None]]  # (rows, work dir) -> the timed callable, after its setup


class PeakRSS:
    """Samples this process's RSS in a thread; `stop()` returns the maximum above the level at start, in MiB."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.base = self.process.memory_info().rss
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss - self.base)
            time.sleep(0.005)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def run_case(case: Case, rows: int) -> dict:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as work:
        run = case(rows, work)
        rss = PeakRSS()
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "peak_mib": rss.stop()}


def main(script: str, cases: Mapping[str, Case], default: list[str], floor: str, title: str) -> None:
    """`title` is formatted with rows and runs; ratios are against the `floor` case."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default=",".join(default))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(cases[args.one], args.rows)))
        return
    results: dict[str, list[dict]] = {}
    for _ in range(args.runs):
        for name in args.cases.split(","):
            out = subprocess.run(
                [sys.executable, script, "--one", name, "--rows", str(args.rows)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            results.setdefault(name, []).append(json.loads(out.strip().splitlines()[-1]))
    base = statistics.median(r["seconds"] for r in results[floor]) if floor in results else None
    print("\n" + title.format(rows=args.rows, runs=args.runs) + "\n")
    print(f"| case | seconds | rows/s | peak MiB | x {floor} |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_mib"] for r in runs)
        ratio = f"{seconds / base:.2f}" if base else "-"
        print(f"| {name} | {seconds:.2f} | {args.rows / seconds:,.0f} | {peak:.0f} | {ratio} |")
