"""A 1.5M-row append (three row groups) whose answer was lost lands once, whatever the staging thread count of
each attempt: retried by RetryPolicy, and re-executed from failure; on both warehouses, with S3 and Volume
staging. (Before the staged layout depended on the rows alone, another thread count made other part names and
COPY INTO loaded them all again.)"""

from typing import Any

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from dagster import AssetExecutionContext
from test_second_run import _run_job, big_events, count, lose_the_load_answer_once, materialize

from dagster_dbload import DatabricksIOManager
from dagster_dbload.staging import Stager

THREADS = {"local": [1, 4], "server": [4, 1], "s3": [1, 4], "volume": [4, 1]}  # one order each, both covered

BIG = 1_500_000
_THREADS_USED: list[int] = []


class ThreadsPerAttempt(DatabricksIOManager):
    """Stages its n-th load with the n-th of `threads` (the Stager's own parameter), as a machine that got busier
    or quieter between attempts would."""

    threads: list[int] = [1, 4]

    def stager(self, url: str, connection: Any = None) -> Stager:
        stager = super().stager(url, connection)
        stager.threads = self.threads[min(len(_THREADS_USED), len(self.threads) - 1)]
        _THREADS_USED.append(stager.threads)
        return stager


@pytest.fixture(params=["local", "server", "s3", "volume"])
def big_target(request, tmp_path):
    s3 = request.getfixturevalue("s3_options") if request.param == "s3" else None
    with make_backend(request.param, tmp_path, s3, flaky=True) as value:
        if value.name == "volume":
            value.query("CREATE VOLUME IF NOT EXISTS main.default.dbload_staging")
        yield value


def test_a_retried_append_of_several_row_groups_lands_once_whatever_the_threads(big_target):
    threads = THREADS[big_target.name]

    @dg.asset(metadata={"write_mode": "append"}, retry_policy=dg.RetryPolicy(max_retries=1))
    def big_clicks(context: AssetExecutionContext) -> pa.Table:
        if context.retry_number == 1:
            big_target.clear_faults()
        return big_events()

    _THREADS_USED.clear()
    settings = lose_the_load_answer_once(big_target)
    result = materialize([big_clicks], big_target.io_manager(ThreadsPerAttempt, threads=threads, **settings))
    assert big_target.pending_faults() == 0
    assert threads == _THREADS_USED  # two attempts, staged with different thread counts
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 1
    loaded = [m for m in result.get_asset_materialization_events()]
    assert result.success and loaded[0].materialization.metadata["dbload/staged_files"].value >= 3
    assert count(big_target, "big_clicks") == BIG
    assert big_target.query("SELECT count(DISTINCT id) AS n FROM big_clicks") == [{"n": BIG}]


def test_reexecuting_an_append_of_several_row_groups_with_other_threads_lands_once(big_target):
    with dg.instance_for_test() as instance:
        big_target.lose_next_answer(match="COPY INTO", times=1 if big_target.server is None else 100)
        first = _run_job(big_target, instance, rows=BIG, threads=1)
        assert not first.success
        big_target.clear_faults()
        assert count(big_target, "events") == BIG  # it committed; only the answer was lost
        again = _run_job(big_target, instance, reexecute_from=first.run_id, rows=BIG, threads=4)
        assert again.success
        assert count(big_target, "events") == BIG
