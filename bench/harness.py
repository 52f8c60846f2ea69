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
from typing import Any

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


def cases(namespace: Mapping[str, Any]) -> dict[str, Case]:
    """A script's `case_<name>` functions by name: pass it `globals()`."""
    return {name[len("case_") :]: fn for name, fn in namespace.items() if name.startswith("case_")}


def _competitor() -> subprocess.Popen:
    """A CPU-bound process beside the case: one core stays busy, as on a shared CI box or laptop."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _run_one(script: str, name: str, rows: int, loaded: bool) -> dict:
    competitor = _competitor() if loaded else None
    try:
        if competitor is not None:
            time.sleep(0.5)  # let it take its core before the case starts
        out = subprocess.run(
            [sys.executable, script, "--one", name, "--rows", str(rows)], capture_output=True, text=True, check=True
        ).stdout
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    return json.loads(out.strip().splitlines()[-1])


def main(script: str, cases: Mapping[str, Case], default: list[str], floor: str, title: str,
         sizes: str = "5000000") -> None:  # fmt: skip
    """`title` is formatted with rows and runs; ratios are against the `floor` case of the same size. `--rows`
    takes a comma-separated list of sizes (one table, a row per case and size). With `--loaded`, every case also
    runs beside a CPU-bound competitor process, interleaved with the quiet runs, in one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default=sizes, help="row counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default=",".join(default))
    parser.add_argument("--loaded", action="store_true", help="also run each case beside a CPU-bound process")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(cases[args.one], int(args.rows))))
        return
    conditions = ["quiet", "loaded"] if args.loaded else ["quiet"]
    names = args.cases.split(",")
    all_rows = [int(r) for r in args.rows.split(",")]
    results: dict[tuple[str, int, str], list[dict]] = {}
    for _ in range(args.runs):
        for rows in all_rows:
            for name in names:
                for condition in conditions:
                    run = _run_one(script, name, rows, condition == "loaded")
                    results.setdefault((name, rows, condition), []).append(run)
    sizes_text = " / ".join(f"{r:,}" for r in all_rows)
    print(f"\n{title.format(rows=sizes_text, runs=args.runs)} ({time.strftime('%Y-%m-%d')})\n")
    print(table(results, names, all_rows, conditions, floor))


def table(
    results: Mapping[tuple[str, int, str], list[dict]], names: list[str], sizes: list[int], conditions: list[str],
    floor: str,
) -> str:  # fmt: skip
    """A markdown table: per size and condition, median seconds, x floor and peak MiB."""

    def median(name: str, rows: int, condition: str, key: str) -> float:
        return statistics.median(r[key] for r in results[(name, rows, condition)])

    head = "| rows | case |" + "".join(f" {c} s | {c} x {floor} | {c} peak MiB |" for c in conditions)
    lines = [head, "|---:|---|" + "---:|---:|---:|" * len(conditions)]
    for rows in sizes:
        for name in names:
            cells = []
            for c in conditions:
                seconds = median(name, rows, c, "seconds")
                base = median(floor, rows, c, "seconds") if (floor, rows, c) in results else None
                ratio = f"{seconds / base:.2f}" if base else "-"
                shown = f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}"
                cells.append(f" {shown} | {ratio} | {median(name, rows, c, 'peak_mib'):.0f} |")
            lines.append(f"| {rows:,} | {name} |" + "".join(cells))
    return "\n".join(lines) + "\n\n(peak MiB is RSS above the level before the case)"
