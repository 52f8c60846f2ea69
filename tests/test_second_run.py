"""The second run: retried steps, re-executions, concurrent partitions, changed data, failed first loads.

Each test runs on the embedded warehouse and through LocalSQLWarehouseServer with the real connector.
"""

import concurrent.futures

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import environ, warehouse_env
from dagster import AssetExecutionContext

from dagster_dbload import DatabricksLoadError


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path, flaky=True) as value:
        yield value


def materialize(assets, io_manager, **kwargs):
    return dg.materialize(assets, resources={"io_manager": io_manager}, **kwargs)


def count(target, table: str, where: str = "") -> int:
    return target.query(f"SELECT count(*) AS n FROM {table} {where}")[0]["n"]


def history(target, table: str) -> list[dict]:
    return target.query(f"DESCRIBE HISTORY {table}")


def columns(target, table: str) -> dict[str, str]:
    rows = target.query(f"DESCRIBE TABLE {table}")
    return {r["col_name"]: r["data_type"] for r in rows if r["col_name"] and not r["col_name"].startswith("#")}


def exists(target, table: str) -> bool:
    return any(r["tableName"] == table for r in target.query("SHOW TABLES IN main.default"))


def ids(n: int, start: int = 0) -> pa.Table:
    return pa.table({"id": pa.array(range(start, start + n), pa.int64())})


# 1. a retry reads only its own attempt's files
@pytest.mark.parametrize(("mode", "expected"), [("replace", 10), ("append", 10), ("merge", 10)])
def test_a_retry_loads_only_the_rows_of_its_own_attempt(mode, expected, target):
    load = {"replace": "INSERT OVERWRITE", "append": "COPY INTO", "merge": "MERGE"}[mode]
    metadata = {"write_mode": mode, **({"primary_key": ["id"]} if mode == "merge" else {})}

    @dg.asset(metadata=metadata, retry_policy=dg.RetryPolicy(max_retries=1))
    def shrinking(context: AssetExecutionContext) -> pa.Table:
        # the first attempt's output is large (several parts); the retry returns fewer rows
        return ids(600_000, start=1_000) if context.retry_number == 0 else ids(10)

    target.fail_next_statement("DELTA_SOMETHING_TRANSIENT", match=load)
    result = materialize([shrinking], target.io_manager(target_file_mb=1))
    assert result.success
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 1
    assert count(target, "shrinking") == expected
    assert target.query("SELECT min(id) AS lo, max(id) AS hi FROM shrinking") == [{"lo": 0, "hi": 9}]
    assert target.staged_files() == []  # the failed attempt's files go once a retry has loaded


# 2. re-execution of an append whose answer was lost
def _run_job(target, instance, reexecute_from: str | None = None, rows: int = 1000, threads: int = 0):
    import second_run_job

    env = warehouse_env(target) | {"DBLOAD_TEST_ROWS": str(rows), "DBLOAD_TEST_THREADS": str(threads)}
    job = second_run_job.server_append_job if target.server is not None else second_run_job.local_append_job
    options = dg.ReexecutionOptions.from_failure(reexecute_from, instance) if reexecute_from else None
    config = {"staging_url": {"env": "DBLOAD_TEST_STAGING_URL"}, "staging_threads": {"env": "DBLOAD_TEST_THREADS"},
              "staging_storage_options": target.storage_options}  # fmt: skip
    run_config = None if reexecute_from else {"resources": {"io_manager": {"config": config}}}  # re-executions keep it
    with environ(env):
        return dg.execute_job(
            dg.reconstructable(job), instance, run_config=run_config, reexecution_options=options, raise_on_error=False
        )


def test_reexecuting_an_append_whose_answer_was_lost_does_not_duplicate_it(target, tmp_path):
    with dg.instance_for_test() as instance:
        target.lose_next_answer(match="COPY INTO", times=1 if target.server is None else 100)
        first = _run_job(target, instance)
        assert not first.success
        target.clear_faults()
        assert count(target, "events") == 1000  # it committed; only the answer was lost
        again = _run_job(target, instance, reexecute_from=first.run_id)
        assert again.success
        assert instance.get_run_by_id(again.run_id).root_run_id == first.run_id
        assert count(target, "events") == 1000
        # a re-execution whose output differs appends what differs: these rows were never loaded
        third = _run_job(target, instance, reexecute_from=first.run_id, rows=1005)
        assert third.success and count(target, "events") == 2005
        # a new run is a new append
        assert _run_job(target, instance).success
        assert count(target, "events") == 3005


def lose_the_load_answer_once(target) -> dict:
    """The next COPY INTO commits and its answer is lost, until the step is retried (the connector resends a
    statement whose answer was lost, so on the server every resend loses it too and the connector gives up
    soon). Returns the IO manager settings for that."""
    if target.server is None:
        target.lose_next_answer(match="COPY INTO")
        return {}
    target.lose_next_answer(match="COPY INTO", times=1000)
    return {"warehouse": target.server.resource(retry_duration_seconds=3.0, retry_delay_max_seconds=5.0)}


def test_a_retried_append_of_the_same_rows_after_a_lost_answer_lands_once(target):
    @dg.asset(metadata={"write_mode": "append"}, retry_policy=dg.RetryPolicy(max_retries=1))
    def clicks(context: AssetExecutionContext) -> pa.Table:
        if context.retry_number == 1:
            assert target.pending_faults() > 0 or target.server is None  # the fault fired on the first attempt
            target.clear_faults()
        return ids(1000)

    result = materialize([clicks], target.io_manager(**lose_the_load_answer_once(target)))
    assert result.success and target.pending_faults() == 0
    assert len([e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]) == 1
    assert count(target, "clicks") == 1000
    assert [h["operation"] for h in history(target, "clicks")].count("COPY INTO") == 1


# 3. DDL never outlives a failed load
def test_a_failed_first_load_leaves_no_table(target):
    @dg.asset
    def fresh() -> pa.Table:
        return ids(5)

    target.fail_next_statement("DELTA_INJECTED_LOAD_FAILURE", match="INSERT OVERWRITE")
    with pytest.raises(DatabricksLoadError, match=r"(?s)created for this load, was dropped again"):
        materialize([fresh], target.io_manager())
    assert not exists(target, "fresh")
    assert materialize([fresh], target.io_manager()).success  # and the next run creates it
    assert count(target, "fresh") == 5


def test_a_failed_first_load_of_a_partition_keeps_the_table_other_partitions_may_be_loading(target):
    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b"]), metadata={"partition_expr": "part"})
    def sharded(context: AssetExecutionContext) -> pa.Table:
        return pa.table({"part": [context.partition_key] * 3, "id": [1, 2, 3]})

    target.fail_next_statement("DELTA_INJECTED_LOAD_FAILURE", match="REPLACE WHERE")
    with pytest.raises(DatabricksLoadError) as raised:
        materialize([sharded], target.io_manager(), partition_key="a")
    assert "dropped again" not in str(raised.value)
    assert exists(target, "sharded") and count(target, "sharded") == 0
    assert materialize([sharded], target.io_manager(), partition_key="b").success
    assert count(target, "sharded") == 3


def big_events(n: int = 1_500_000) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "v": pa.array(range(n), pa.int32())})


def test_a_load_statement_that_cannot_be_built_leaves_the_table_as_it_was(target, monkeypatch):
    """The load statement is built from the staged files before any DDL runs: more parts than COPY INTO takes
    (here a limit of 2, for 4 parts) fails with the table unevolved, its history unchanged, nothing staged left."""
    from dagster_dbload import loader

    data = {"t": pa.table({"id": pa.array([1], pa.int64())})}

    @dg.asset(metadata={"write_mode": "append"})
    def widening() -> pa.Table:
        return data["t"]

    assert materialize([widening], target.io_manager()).success
    versions = len(history(target, "widening"))
    data["t"] = big_events()  # a new column, and seven row groups: one part per stripe, four
    monkeypatch.setattr(loader, "MAX_COPY_FILES", 2)
    with pytest.raises(Exception, match=r"4 staged files exceed COPY INTO's limit of 2 files"):
        materialize([widening], target.io_manager())
    assert columns(target, "widening") == {"id": "bigint"}  # no ALTER TABLE ADD COLUMNS ran
    assert len(history(target, "widening")) == versions and count(target, "widening") == 1
    assert target.staged_files() == []


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"write_mode": "merge", "primary_key": ["id"], "dedupe_by": "nope"}, r"dedupe_by column\(s\) \['nope'\]"),
        ({"partition_by": ["nope"]}, r"partition_by column\(s\) \['nope'\]"),
        ({"cluster_by": ["nope"]}, r"cluster_by column\(s\) \['nope'\]"),
    ],
)
def test_settings_naming_missing_columns_fail_before_any_ddl(metadata, error, target):
    data = {"t": ids(3)}

    @dg.asset(name="kept", metadata=metadata)
    def kept() -> pa.Table:
        return data["t"]

    with pytest.raises(ValueError, match=error):
        materialize([kept], target.io_manager())
    assert not any(r["databaseName"] == "default" and exists(target, "kept") for r in target.query("SHOW SCHEMAS"))

    @dg.asset(name="kept")
    def plain() -> pa.Table:
        return ids(3)

    materialize([plain], target.io_manager())
    version = history(target, "kept")[0]["version"]
    data["t"] = ids(3).append_column("extra", pa.array(["x", "y", "z"]))
    with pytest.raises(ValueError, match=error):
        materialize([kept], target.io_manager())
    assert columns(target, "kept") == {"id": "bigint"}  # no ADD COLUMNS committed
    assert history(target, "kept")[0]["version"] == version


def test_a_missing_partition_by_column_creates_no_schema(target):
    @dg.asset(key_prefix=["brand_new"], metadata={"partition_by": ["day"]})
    def layout() -> pa.Table:
        return ids(3)

    with pytest.raises(ValueError, match=r"partition_by column\(s\) \['day'\]"):
        materialize([layout], target.io_manager())
    assert "brand_new" not in [r["databaseName"] for r in target.query("SHOW SCHEMAS")]
    assert target.staged_files() == []


# 4. strict means any difference
def test_strict_refuses_a_wider_integer_type(target):
    data = {"t": pa.table({"n": pa.array([1], pa.int32())})}

    @dg.asset(metadata={"schema_evolution": "strict"})
    def exact() -> pa.Table:
        return data["t"]

    materialize([exact], target.io_manager())
    version = history(target, "exact")[0]["version"]
    for changed in (pa.array([2], pa.int64()), pa.array([2], pa.int16())):  # wider, and narrower
        data["t"] = pa.table({"n": changed})
        with pytest.raises(Exception, match=r"schema_evolution='strict'.*column 'n' is INT in the table"):
            materialize([exact], target.io_manager())
    assert columns(target, "exact") == {"n": "int"}
    assert history(target, "exact")[0]["version"] == version


# 5. flags are booleans
@pytest.mark.parametrize(("value", "error"), [("false", r"does not exist and this asset may not create it"),
                                              ("nope", r"metadata 'create_table' must be true or false, not 'nope'"),
                                              (0, r"metadata 'create_table' must be true or false")])  # fmt: skip
def test_create_table_takes_only_booleans(value, error, target):
    @dg.asset(metadata={"create_table": value})
    def guarded() -> pa.Table:
        return ids(1)

    with pytest.raises(Exception, match=error):
        materialize([guarded], target.io_manager())
    assert not exists(target, "guarded")


# 6. partition_expr matches column names as Databricks does
def test_partition_expr_matches_the_column_case_insensitively(target):
    regions = dg.StaticPartitionsDefinition(["us", "eu"])
    data = {"t": pa.table({"region": ["us", "us"], "v": [1, 2]})}

    @dg.asset(partitions_def=regions, metadata={"partition_expr": "Region"})
    def sales() -> pa.Table:
        return data["t"]

    @dg.asset(partitions_def=regions, metadata={"partition_expr": "Region", "write_mode": "merge", "primary_key": "v"})
    def sales_merged() -> pa.Table:
        return data["t"]

    assert materialize([sales, sales_merged], target.io_manager(), partition_key="us").success
    assert count(target, "sales") == 2 and count(target, "sales_merged") == 2
    data["t"] = pa.table({"region": ["us", "eu"], "v": [1, 3]})
    for asset in (sales, sales_merged):
        with pytest.raises(Exception, match=r"1 row\(s\) have 'Region' outside the partition.*'eu'"):
            materialize([asset], target.io_manager(), partition_key="us")
    assert count(target, "sales_merged", "WHERE region = 'eu'") == 0


# 8. concurrent writers
@pytest.mark.parametrize("mode", ["replace", "merge", "append", "insert_only", "scd2"])
def test_sixteen_concurrent_partitions_land_through_write_conflicts(mode, target):
    keys = [f"p{i:02d}" for i in range(16)]
    keyed = mode in ("merge", "insert_only", "scd2")
    metadata = {"partition_expr": "part", "write_mode": mode, **({"primary_key": ["id"]} if keyed else {})}

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(keys), metadata=metadata)
    def shards(context: AssetExecutionContext) -> pa.Table:
        n = 100 + keys.index(context.partition_key)
        return pa.table({"part": [context.partition_key] * n, "id": [f"{context.partition_key}-{i}" for i in range(n)]})

    io_manager = target.io_manager(conflict_retries=6)
    load = {"replace": "REPLACE WHERE", "append": "COPY INTO"}.get(mode, "MERGE")
    conflicts = ["DELTA_CONCURRENT_APPEND", "DELTA_CONCURRENT_DELETE_READ", "DELTA_CONCURRENT_DELETE_DELETE",
                 "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED"]  # fmt: skip
    for i in range(20):
        target.fail_next_statement(conflicts[i % len(conflicts)], match=load)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda key: materialize([shards], io_manager, partition_key=key), keys))
    assert all(r.success for r in results)
    assert target.pending_faults() == 0
    retried = sum(
        m.materialization.metadata["dbload/conflict_retries"].value
        for r in results
        for m in r.get_asset_materialization_events()
    )
    assert retried == 20
    counts = {r["part"]: r["n"] for r in target.query("SELECT part, count(*) AS n FROM shards GROUP BY part")}
    assert counts == {key: 100 + i for i, key in enumerate(keys)}
    assert count(target, "shards") == sum(100 + i for i in range(16))
    assert count(target, "(SELECT DISTINCT id FROM shards)") == sum(100 + i for i in range(16))


def test_a_conflict_beyond_the_retries_fails_and_names_the_class(target):
    @dg.asset(metadata={"write_mode": "append"})
    def busy() -> pa.Table:
        return ids(3)

    target.fail_next_statement("DELTA_CONCURRENT_APPEND", times=3, match="COPY INTO")
    with pytest.raises(DatabricksLoadError, match="DELTA_CONCURRENT_APPEND"):
        materialize([busy], target.io_manager(conflict_retries=2))
    assert not exists(target, "busy")  # created for this load, dropped again
    assert materialize([busy], target.io_manager()).success and count(target, "busy") == 3


# errors that say what to fix
@pytest.mark.parametrize(
    ("make", "metadata", "error"),
    [
        (lambda: pd.DataFrame(index=range(3)), {}, r"Asset 'odd' has no columns: a Delta table needs at least one"),
        (lambda: pd.DataFrame({"x": []}).drop(columns="x"), {}, r"has no columns"),
        (
            lambda: pd.DataFrame({"big": [2**70, 1]}),
            {},
            r"Asset 'odd': cannot convert the pandas DataFrame to Arrow in column 'big'.*DECIMAL\(38,0\)",
        ),
        (
            lambda: ids(1),
            {"dagster/column_schema": dg.TableSchema([dg.TableColumn("when", "datetime")])},
            r"declares column 'when' as 'datetime', which is not a Databricks SQL type. Use one of BOOLEAN",
        ),
    ],
    ids=["rows-no-columns", "nothing", "int-beyond-int64", "unknown-declared-type"],
)
def test_errors_name_the_fix(make, metadata, error, target):
    @dg.asset(name="odd", metadata=metadata)
    def odd():
        return make()

    with pytest.raises(Exception, match=error):
        materialize([odd], target.io_manager())
    assert not exists(target, "odd")


def test_an_int_beyond_64_bits_loads_as_a_declared_decimal(target):
    @dg.asset(metadata={"dagster/column_schema": dg.TableSchema([dg.TableColumn("big", "DECIMAL(38,0)")])})
    def huge() -> pd.DataFrame:
        return pd.DataFrame({"big": [2**70, 1], "name": ["a", "b"]})

    assert materialize([huge], target.io_manager()).success
    assert columns(target, "huge") == {"big": "decimal(38,0)", "name": "string"}
    assert sorted(r["big"] for r in target.query("SELECT big FROM huge")) == [1, 2**70]


def test_columns_named_like_engine_internals_change_nothing(target):
    data = {"t": pa.table({"rowid": [1, 2], "merge_action": ["a", "b"], "v": [10, 20]})}

    @dg.asset(metadata={"write_mode": "merge", "primary_key": ["rowid"]})
    def internals() -> pa.Table:
        return data["t"]

    materialize([internals], target.io_manager())
    data["t"] = pa.table({"rowid": [2, 3], "merge_action": ["B", "c"], "v": [21, 30]})
    assert materialize([internals], target.io_manager()).success
    assert target.query("SELECT * FROM internals ORDER BY rowid") == [
        {"rowid": 1, "merge_action": "a", "v": 10},
        {"rowid": 2, "merge_action": "B", "v": 21},
        {"rowid": 3, "merge_action": "c", "v": 30},
    ]
    metrics = dict(history(target, "internals")[0]["operationMetrics"])
    assert (metrics["numTargetRowsUpdated"], metrics["numTargetRowsInserted"]) == ("1", "1")
    twice = "SELECT * FROM VALUES (1, 'x', 0), (1, 'y', 0) AS s(rowid, merge_action, v)"
    with pytest.raises(Exception, match="DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE"):
        target.query(
            f"MERGE INTO internals t USING ({twice}) s ON t.rowid = s.rowid WHEN MATCHED THEN UPDATE SET v = s.v"
        )
    deletes = "SELECT * FROM VALUES (1, 'x', 0), (9, 'z', 0) AS s(rowid, merge_action, v)"
    counts = target.query(
        f"MERGE INTO internals t USING ({deletes}) s ON t.rowid = s.rowid "
        "WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT *"
    )
    assert counts == [{"num_affected_rows": 2, "num_updated_rows": 0, "num_deleted_rows": 1, "num_inserted_rows": 1}]


def test_a_settings_error_fails_the_run_with_the_fix_first_and_is_not_retried(target):
    @dg.asset(metadata={"write_mode": "upsert"}, retry_policy=dg.RetryPolicy(max_retries=2))
    def misconfigured() -> pa.Table:
        return ids(1)

    result = materialize([misconfigured], target.io_manager(), raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = failure.step_failure_data.user_failure_data
    assert data.description.startswith("Asset 'misconfigured': write_mode='upsert' is not one of")
    assert "Nothing was written" in data.description and data.metadata["error"].value == "ValueError"
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_version_by_keeps_a_newer_row_when_an_older_version_arrives_late(target):
    data = {"t": pa.table({"id": [1, 2], "v": ["new", "new"], "updated": [20, 20]})}

    @dg.asset(metadata={"write_mode": "merge", "primary_key": ["id"], "version_by": "updated"})
    def versions() -> pa.Table:
        return data["t"]

    materialize([versions], target.io_manager())
    data["t"] = pa.table({"id": [1, 2, 3], "v": ["old", "same-time", "other"], "updated": [10, 20, 5]})
    result = materialize([versions], target.io_manager())
    assert target.query("SELECT id, v FROM versions ORDER BY id") == [
        {"id": 1, "v": "new"}, {"id": 2, "v": "same-time"}, {"id": 3, "v": "other"}
    ]  # fmt: skip
    md = result.get_asset_materialization_events()[0].materialization.metadata
    assert (md["dbload/rows_updated"].value, md["dbload/rows_inserted"].value) == (1, 1)


def test_delete_missing_removes_only_the_partitions_rows_the_output_lacks(target):
    regions = dg.StaticPartitionsDefinition(["eu", "us"])
    data = {"eu": ["a", "b"], "us": ["c"]}

    @dg.asset(
        partitions_def=regions, metadata={"write_mode": "merge", "primary_key": ["k"], "partition_expr": "region"}
    )
    def accounts(context: AssetExecutionContext):
        keys = data[context.partition_key]
        table = pa.table({"region": [context.partition_key] * len(keys), "k": keys})
        return dg.Output(table, metadata={"delete_missing": context.partition_key == "eu" and len(keys) == 1})

    for key in ("eu", "us"):
        materialize([accounts], target.io_manager(), partition_key=key)
    data["eu"] = ["b"]
    result = materialize([accounts], target.io_manager(), partition_key="eu")
    assert target.query("SELECT region, k FROM accounts ORDER BY k") == [
        {"region": "eu", "k": "b"}, {"region": "us", "k": "c"}
    ]  # fmt: skip
    assert result.get_asset_materialization_events()[0].materialization.metadata["dbload/rows_deleted"].value == 1
