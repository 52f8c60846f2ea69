"""The guard against foreign writers: a replace after someone else wrote to the table warns (default) or, with
foreign_writes="strict", refuses before anything is written, naming the other writer's operation and version.
This asset's own writes, including concurrent runs of its other partitions, are not foreign. Both warehouses,
with a Dagster instance that keeps runs (the guard reads this asset's earlier materializations from it)."""

import os
import subprocess
import sys

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import environ, warehouse_env

from dagster_dbload import DatabricksOutputError


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def _metadata(result, name: str) -> dict:
    (m,) = [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == name]
    return {k: v.value for k, v in m.materialization.metadata.items()}


def _logged(instance, run_id: str) -> list[str]:
    return [r.user_message for r in instance.all_logs(run_id) if "someone else" in (r.user_message or "")]


@pytest.mark.parametrize("strict", [False, True])
def test_a_replace_after_a_foreign_write_warns_or_refuses_naming_it(strict, target):
    data = {"rows": 10}

    @dg.asset(metadata={"foreign_writes": "strict"} if strict else {})
    def guarded() -> pa.Table:
        return pa.table({"id": pa.array(range(data["rows"]), pa.int64())})

    resources = {"io_manager": target.io_manager()}
    with dg.instance_for_test() as instance:
        for _ in range(2):  # our own writes: nothing to say
            result = dg.materialize([guarded], resources=resources, instance=instance)
            assert result.success and not _logged(instance, result.run_id)
            assert "dbload/foreign_writes" not in _metadata(result, "guarded")
        version = target.query("DESCRIBE HISTORY guarded LIMIT 1")[0]["version"]
        target.query("UPDATE guarded SET id = id + 100 WHERE id < 3")  # someone else
        data["rows"] = 20
        result = dg.materialize([guarded], resources=resources, instance=instance, raise_on_error=False)
        if strict:
            assert not result.success
            (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
            error = failure.step_failure_data.error
            assert error.cls_name == DatabricksOutputError.__name__
            assert f"version {version + 1}: UPDATE" in error.message and "Nothing was written" in error.message
            assert target.query("SELECT count(*) AS n FROM guarded WHERE id >= 100") == [{"n": 3}]  # untouched
            assert target.query("SELECT count(*) AS n FROM guarded") == [{"n": 10}]
            return
        assert result.success
        (warning,) = _logged(instance, result.run_id)
        assert f"version {version + 1}: UPDATE" in warning
        (noted,) = _metadata(result, "guarded")["dbload/foreign_writes"]
        assert noted.startswith(f"version {version + 1}: UPDATE")
        assert target.query("SELECT count(*) AS n FROM guarded") == [{"n": 20}]
        again = dg.materialize([guarded], resources=resources, instance=instance)  # the foreign write is behind us
        assert again.success and not _logged(instance, again.run_id)


def test_concurrent_partitions_of_the_asset_are_not_foreign_writers(target, tmp_path):
    import foreign_writes_job

    env = {**os.environ, **warehouse_env(target), "DAGSTER_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    os.makedirs(env["DAGSTER_HOME"])
    with environ({"DAGSTER_HOME": env["DAGSTER_HOME"]}), dg.DagsterInstance.get():
        pass  # its storage is made once, before processes race to make it

    def run(*keys: str) -> None:  # one process per partition, all at once
        script = foreign_writes_job.__file__
        processes = [subprocess.Popen([sys.executable, script, key], env=env) for key in keys]
        assert [p.wait() for p in processes] == [0] * len(keys)

    def warnings() -> list[str]:
        with environ({"DAGSTER_HOME": env["DAGSTER_HOME"]}), dg.DagsterInstance.get() as instance:
            return [r.user_message for run in instance.get_runs() for r in instance.all_logs(run.run_id)
                    if "someone else" in (r.user_message or "")]  # fmt: skip

    run("a")
    run("a", "b", "c")  # at once: each run's pre-check sees the others' commits, some not materialized yet
    assert warnings() == []
    target.query("INSERT INTO sharded VALUES ('z', 1)")
    run("c")
    (warning,) = warnings()
    assert ": WRITE" in warning and "main.default.sharded was written by someone else" in warning


@pytest.mark.parametrize("where", ["io_manager", "metadata"])
def test_every_write_can_be_guarded(where, target):
    setting = {"foreign_writes_check": "every_write", "foreign_writes": "strict"}

    @dg.asset(metadata={"write_mode": "append", **(setting if where == "metadata" else {})})
    def events() -> pa.Table:
        return pa.table({"id": pa.array(range(3), pa.int64())})

    io_manager = target.io_manager(**(setting if where == "io_manager" else {}))
    with dg.instance_for_test() as instance:
        for _ in range(2):
            assert dg.materialize([events], resources={"io_manager": io_manager}, instance=instance).success
        target.query("DELETE FROM events WHERE id = 0")
        result = dg.materialize([events], resources={"io_manager": io_manager}, instance=instance, raise_on_error=False)
        assert not result.success
        (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert ": DELETE" in failure.step_failure_data.error.message
    assert target.query("SELECT count(*) AS n FROM events") == [{"n": 4}]  # 2 x 3 appended, 2 deleted, none added
