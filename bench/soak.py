"""The long soak: seeded histories of materializations with faults, retries, re-executions and concurrent
partitions (tests/soak.py), each table compared with the model of the README's guarantees after every run.

    python bench/soak.py --runs 500 [--seed 1000] [--backends local,server] [--no-big]

Prints each history as it ends, then runs, executions, faults injected by kind, and tables that differed.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> int:
    from backends import backend as make_backend
    from soak import run_history

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="materialization groups in all (each history has 3-5)")
    parser.add_argument("--seed", type=int, default=1000, help="the first history's seed")
    parser.add_argument("--backends", default="local,server")
    parser.add_argument("--no-big", action="store_true", help="no outputs of 600k-1.5M rows")
    args = parser.parse_args()
    kinds = args.backends.split(",")
    runs = executions = reexecutions = retries = 0
    faults: collections.Counter = collections.Counter()
    modes: collections.Counter = collections.Counter()
    differed: list[str] = []
    seed, start = args.seed, time.monotonic()
    while runs < args.runs:
        kind = kinds[seed % len(kinds)]
        with tempfile.TemporaryDirectory() as work, make_backend(kind, Path(work), flaky=True) as backend:
            began = time.monotonic()
            history = run_history(seed, backend, work, big=not args.no_big)
        runs += len(history.runs)
        executions += history.executions
        reexecutions += history.reexecutions
        retries += history.retries
        faults.update(history.faults)
        modes[(history.mode, "partitioned" if history.partitioned else "whole")] += 1
        sizes = max(n for r in history.runs for _, n in r.data.values())
        status = "ok" if not history.differed else "DIFFERED: " + "; ".join(history.differed)
        print(f"seed {seed:5d} {kind:6s} {history.mode:11s} {'part' if history.partitioned else 'whole':5s} "
              f"{len(history.runs)} runs, largest {sizes:>9,} rows, {time.monotonic() - began:5.1f}s  {status}",
              flush=True)  # fmt: skip
        differed += [f"seed {seed} ({kind}): {d}" for d in history.differed]
        seed += 1
    print(f"\n{runs} runs in {seed - args.seed} histories ({executions} executions: {retries} step retries, "
          f"{reexecutions} re-executions from failure) in {time.monotonic() - start:.0f}s")  # fmt: skip
    print("faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    print("histories by mode: " + ", ".join(f"{m}/{p} {n}" for (m, p), n in sorted(modes.items())))
    print(f"tables that differed from the model: {len(differed)}")
    for line in differed:
        print("  " + line)
    return 1 if differed else 0


if __name__ == "__main__":
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="soak-dagster-"))
    sys.exit(main())
