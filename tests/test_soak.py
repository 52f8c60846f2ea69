"""A short seeded soak (tests/soak.py) on both warehouses: randomized histories of materializations with faults,
retries, re-executions and concurrent partitions, each table compared with the model after every run. The seeds
are chosen so that together they hold every write mode and every fault kind; `python bench/soak.py --runs 500`
is the long run."""

import pytest
from backends import backend as make_backend
from soak import FAULTS, LOCAL_ONLY, SERVER_ONLY, plan, run_history

SEEDS = {"local": [1, 23, 24, 43], "server": [429]}


def test_the_seeds_hold_every_mode_and_fault():
    histories = [plan(seed, kind, big=False) for kind, seeds in SEEDS.items() for seed in seeds]
    assert {h.mode for h in histories} == {"replace", "append", "merge", "insert_only", "scd2"}
    assert {f for h in histories for f in h.faults_planned()} == set(FAULTS)
    assert {h.partitioned for h in histories} == {True, False}
    assert any(len(r.parts) > 1 for h in histories for r in h.runs)  # concurrent partitions
    assert all(f not in LOCAL_ONLY for s in SEEDS["server"] for f in plan(s, "server", False).faults_planned())
    assert all(f not in SERVER_ONLY for s in SEEDS["local"] for f in plan(s, "local", False).faults_planned())


@pytest.mark.parametrize(("kind", "seed"), [(k, s) for k, seeds in SEEDS.items() for s in seeds])
def test_a_seeded_history_matches_the_model_after_every_run(kind, seed, tmp_path):
    with make_backend(kind, tmp_path, flaky=True) as backend:
        history = run_history(seed, backend, str(tmp_path))
    assert history.differed == [], (history.mode, history.partitioned, history.runs)
    assert sum(history.faults.values()) == len(history.runs)
    if any(
        f in ("after_staging", "retries_exhausted", "kill_while_staging", "kill_after_commit") for f in history.faults
    ):
        assert history.retries + history.reexecutions > 0  # the step's fault made it run again
