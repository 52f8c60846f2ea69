"""A seeded, model-checked soak of the IO manager's guarantees (the README's "What is guaranteed on the second run").

A history is a sequence of materializations of one asset (a write mode, partitioned or not) into a fresh
warehouse: outputs from 0 rows to several row groups, repeated, changed or new; faults (a lost answer, a write
conflict, HTTP 503/429, a failure after staging, retries exhausted, SIGKILL of the step's process while staging
or after its load committed); RetryPolicy retries and re-executions from failure with another staging thread
count; concurrent partitions. After every run the table is compared with a pure-Python model of the promise:
each successful materialization's rows applied exactly once, nothing from a failed attempt.

    run_history(seed, backend, work, big=False) -> History

`tests/test_soak.py` runs a short seeded set on both warehouses; `bench/soak.py --runs 500` a long one.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import json
import os
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

PARTITIONS = ("p0", "p1", "p2")
KEYED = ("merge", "insert_only", "scd2")
LOAD = {"replace": "INSERT OVERWRITE|REPLACE WHERE", "append": "COPY INTO", "merge": "MERGE", "insert_only": "MERGE",
        "scd2": "MERGE"}  # fmt: skip
FAULTS = ("none", "lost_answer", "conflict", "after_staging", "retries_exhausted", "http_503", "http_429",
          "kill_while_staging", "kill_after_commit")  # fmt: skip
SERVER_ONLY = ("http_503", "http_429")
LOCAL_ONLY = ("kill_while_staging", "kill_after_commit")  # the step's process is killed: multiprocess executor


def rows(seed: int, n: int, part: str) -> pa.Table:
    """`n` rows of partition `part`: unique ids from a key space 1.5x as large (so runs overlap), values from a
    small domain (so some rows do not change between runs)."""
    rng = np.random.default_rng(seed)
    base = PARTITIONS.index(part) * 10_000_000
    ids = base + rng.choice(int(n * 1.5) + 10, size=n, replace=False)
    values = rng.integers(0, 4, n)
    return pa.table({"part": pa.array([part] * n, pa.string()), "id": pa.array(ids, pa.int64()),
                     "v": pa.array(values, pa.int64())})  # fmt: skip


class Model:
    """What the table must hold after a sequence of successful materializations, per the README's table."""

    def __init__(self, mode: str, partitioned: bool):
        self.mode, self.partitioned = mode, partitioned
        self.parts: dict[str, list[tuple]] = {}  # replace: partition -> rows
        self.appended: collections.Counter = collections.Counter()  # append: row -> times
        self.current: dict[int, tuple] = {}  # keyed: id -> (part, v)
        self.versions: collections.Counter = collections.Counter()  # scd2: id -> versions

    def apply(self, part: str, table: pa.Table) -> None:
        """One materialization of `part` (the whole table when unpartitioned) that succeeded."""
        out = list(zip(table["part"].to_pylist(), table["id"].to_pylist(), table["v"].to_pylist(), strict=True))
        if self.mode == "replace":
            if not self.partitioned:
                self.parts.clear()
            self.parts[part] = out
        elif self.mode == "append":
            self.appended.update(out)
        elif self.mode == "merge":
            self.current.update({i: (p, v) for p, i, v in out})
        elif self.mode == "insert_only":
            for p, i, v in out:
                self.current.setdefault(i, (p, v))
        else:  # scd2: a new or changed row is a new version; keys of the partition the output lacks are closed
            given = {i: (p, v) for p, i, v in out}
            scope = [i for i, (p, _) in self.current.items() if not self.partitioned or p == part]
            for i in scope:
                if i not in given:
                    del self.current[i]
            for i, row in given.items():
                if self.current.get(i) != row:
                    self.current[i] = row
                    self.versions[i] += 1

    def expected(self) -> dict[str, Any]:
        if self.mode == "replace":
            return _summary([r for part in self.parts.values() for r in part])
        if self.mode == "append":
            return _summary(list(self.appended.elements()))
        current = sorted((p, i, v) for i, (p, v) in self.current.items())
        result = _summary(current)
        if self.mode == "scd2":
            result["versions"] = sorted(self.versions.items())
        return result


def _summary(rows: list[tuple]) -> dict[str, Any]:
    """Counts and sums per partition, and the rows themselves while few enough to compare one by one."""
    per: dict[str, list[int]] = {}
    for p, i, v in rows:
        acc = per.setdefault(p, [0, 0, 0])
        acc[0] += 1
        acc[1] += i
        acc[2] += v
    return {"per_partition": sorted((p, *acc) for p, acc in per.items()),
            "rows": sorted(rows) if len(rows) <= 20_000 else None}  # fmt: skip


def observed(backend: Any, mode: str, expected_rows: bool) -> dict[str, Any]:
    current = " WHERE _valid_to IS NULL" if mode == "scd2" else ""
    try:
        per = backend.query(f"SELECT part, count(*) AS n, sum(id) AS i, sum(v) AS v FROM main.default.soaked{current} "
                            "GROUP BY part ORDER BY part")  # fmt: skip
    except Exception as e:  # noqa: BLE001 - no table yet
        if "TABLE_OR_VIEW_NOT_FOUND" not in str(e):
            raise
        return {
            "per_partition": [],
            "rows": [] if expected_rows else None,
            **({"versions": []} if mode == "scd2" else {}),
        }
    result: dict[str, Any] = {"per_partition": [(r["part"], r["n"], int(r["i"]), int(r["v"])) for r in per if r["n"]]}
    result["rows"] = (
        sorted(
            (r["part"], r["id"], r["v"]) for r in backend.query(f"SELECT part, id, v FROM main.default.soaked{current}")
        )
        if expected_rows
        else None
    )
    if mode == "scd2":
        result["versions"] = sorted(
            (r["id"], r["n"]) for r in backend.query("SELECT id, count(*) AS n FROM main.default.soaked GROUP BY id")
        )
    return result


@dataclass
class Run:
    """One materialization group: the partitions it writes (concurrently when several) and its fault."""

    parts: list[str]
    data: dict[str, tuple[int, int]]  # partition -> (seed, rows)
    fault: str
    threads: tuple[int, int]  # staging threads of the first run and of a re-execution
    target_file_mb: int


@dataclass
class History:
    seed: int
    backend: str
    mode: str
    partitioned: bool
    runs: list[Run] = field(default_factory=list)
    faults: collections.Counter = field(default_factory=collections.Counter)
    reexecutions: int = 0
    retries: int = 0
    differed: list[str] = field(default_factory=list)  # what differed from the model, after which run
    executions: int = 0

    def faults_planned(self) -> list[str]:
        return [r.fault for r in self.runs]


def plan(seed: int, backend: str, big: bool) -> History:
    """The history for `seed`: a mode, partitioning, and 3 to 5 runs with their data, faults and threads."""
    rng = random.Random(seed)
    mode = rng.choice(("replace", "append", "merge", "insert_only", "scd2"))
    partitioned = rng.random() < 0.5
    history = History(seed, backend, mode, partitioned)
    faults = [f for f in FAULTS if not (backend == "local" and f in SERVER_ONLY)
              and not (backend != "local" and f in LOCAL_ONLY)]  # fmt: skip
    last: dict[str, tuple[int, int]] = {}
    for _ in range(rng.randint(3, 5)):
        concurrent_parts = partitioned and rng.random() < 0.3
        parts = rng.sample(PARTITIONS, rng.randint(2, 3)) if concurrent_parts else [rng.choice(PARTITIONS)]
        if not partitioned:
            parts = [PARTITIONS[0]]
        data = {}
        for part in parts:
            size = rng.choice([0, rng.randint(1, 40), rng.randint(40, 3000)])
            if big and rng.random() < 0.1:  # two row groups
                size = rng.randint(600_000, 700_000)
            if big and mode in ("append", "replace") and rng.random() < 0.08:  # three row groups
                size = 1_500_000
            again = part in last and rng.random() < 0.35  # the same rows as last time
            data[part] = last[part] if again else (rng.randrange(1 << 30), size)
            last[part] = data[part]
        fault = rng.choice(faults)
        if concurrent_parts and fault in (*LOCAL_ONLY, "retries_exhausted"):  # those need a re-execution
            fault = "conflict"
        if fault == "kill_while_staging" and max(n for _, n in data.values()) <= 50_000:
            data[parts[0]] = (rng.randrange(1 << 30), rng.randint(120_000, 200_000))
            last[parts[0]] = data[parts[0]]
        history.runs.append(Run(parts, data, fault, (rng.randint(1, 4), rng.randint(1, 4)), rng.choice((1, 128))))
    return history


def run_history(seed: int, backend: Any, work: str, big: bool = False) -> History:
    """Carry out the history for `seed` on `backend` (a tests/backends.py Backend over a fresh warehouse)."""
    import dagster as dg
    import soak_job
    from backends import environ, kill_after
    from dagster._core.definitions.reconstruct import ReconstructableJob

    history = plan(seed, "local" if backend.server is None else "server", big)
    model = Model(history.mode, history.partitioned)
    env = {"SOAK_STAGING_URL": backend.staging_url}
    if backend.server is None:
        env["SOAK_WAREHOUSE"] = backend.warehouse.path
    else:
        env |= {"SOAK_HTTP_PATH": backend.warehouse.http_path, "SOAK_TOKEN": backend.warehouse.access_token,
                "SOAK_URI": backend.warehouse.connection_uri}  # fmt: skip
    marker = os.path.join(work, "kill.marker")
    with dg.instance_for_test() as instance:
        for number, run in enumerate(history.runs):
            processes = run.fault in LOCAL_ONLY
            job = ReconstructableJob.for_file(  # step processes load it from the file (its folder on sys.path)
                soak_job.__file__,
                soak_job.job_name(history.mode, history.partitioned, processes, server=backend.server is not None),
            )
            spec = {p: run.data.get(p, (0, 0)) for p in PARTITIONS}
            env_run = {**env, "SOAK_DATA": json.dumps(spec), "SOAK_TARGET_FILE_MB": str(run.target_file_mb)}
            history.faults[run.fault] += 1
            _inject(backend, run, history.mode, marker, kill_after)
            staging_kill = marker if run.fault == "kill_while_staging" else ""
            threads = {"SOAK_THREADS": str(run.threads[0]), "SOAK_KILL_WHILE_STAGING": staging_kill}
            with environ({**env_run, **threads}):
                if len(run.parts) == 1:
                    results = [_execute(job, instance, run.parts[0], history)]
                else:  # concurrent partitions: each in its own thread and instance
                    with concurrent.futures.ThreadPoolExecutor(len(run.parts)) as pool:
                        results = list(pool.map(
                            lambda part: soak_job.materialize(
                                history.mode, history.partitioned, part, backend.server is not None
                            ),
                            run.parts,
                        ))  # fmt: skip
            history.executions += len(results)
            for part, result in zip(run.parts, results, strict=True):
                history.retries += sum(1 for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")
                for _ in range(3):
                    if result.success or len(run.parts) > 1:  # concurrent runs have instances of their own
                        break
                    backend.clear_faults()
                    with environ({**env_run, "SOAK_THREADS": str(run.threads[1])}):
                        options = dg.ReexecutionOptions.from_failure(result.run_id, instance)
                        tags = {"dagster/partition": part} if history.partitioned else None
                        result = dg.execute_job(
                            job, instance, tags=tags, reexecution_options=options, raise_on_error=False
                        )
                    history.reexecutions += 1
                    history.executions += 1
                if not result.success:
                    history.differed.append(f"run {number}: partition {part} did not succeed after re-executions")
                model.apply(part, rows(*run.data[part], part))
            backend.clear_faults()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)
            want = model.expected()
            got = observed(backend, history.mode, want["rows"] is not None)
            if got != want:
                history.differed.append(f"after run {number} ({run.fault}, {run.parts}): {_difference(want, got)}")
                break
    os.environ.pop("DBLOAD_TEST_KILL_AFTER", None)
    return history


def _execute(job: Any, instance: Any, part: str, history: History) -> Any:
    import dagster as dg

    tags = {"dagster/partition": part} if history.partitioned else {}
    return dg.execute_job(job, instance, tags=tags, raise_on_error=False)


def _inject(backend: Any, run: Run, mode: str, marker: str, kill_after: Any) -> None:
    load = LOAD[mode]
    if run.fault == "lost_answer":
        backend.lose_next_answer(match=load)
    elif run.fault == "conflict":
        backend.fail_next_statement("DELTA_CONCURRENT_APPEND", times=2, match=load)
    elif run.fault == "after_staging":
        backend.fail_next_statement("DELTA_SOMETHING_TRANSIENT", match=load)
    elif run.fault == "retries_exhausted":  # RetryPolicy gives up: the run fails, a re-execution loads
        backend.fail_next_statement("DELTA_SOMETHING_TRANSIENT", times=4, match=load)
    elif run.fault in ("http_503", "http_429"):
        backend.server.fail_next(int(run.fault[-3:]), times=2, retry_after=1)
    elif run.fault == "kill_after_commit":
        kill_after(marker, load)
    elif run.fault == "kill_while_staging":
        with open(marker, "w") as f:
            f.write("staging")


def _difference(want: dict, got: dict) -> str:
    keys = [k for k in want if want[k] != got.get(k)]
    return "; ".join(f"{k}: expected {str(want[k])[:300]}, found {str(got.get(k))[:300]}" for k in keys)
