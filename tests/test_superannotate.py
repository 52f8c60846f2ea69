"""SuperAnnotate flow: extraction of every component kind, config errors, the sensor's ticks, and the asset's
merge into the local warehouse, with items read from a real export folder."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from backends import Backend
from backends import backend as make_backend

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from dagster_dbload.superannotate import (
    LocalSuperAnnotateExport,
    SAItem,
    SuperAnnotateConfigError,
    SuperAnnotateDataError,
    SuperAnnotateError,
    build_superannotate_asset,
    build_superannotate_sensor,
)
from dagster_dbload.superannotate.extract import column_mapping, to_table

UTC = dt.timezone.utc


def item(n: int, data: dict, status: str = "Completed", updated: str = "2024-05-01T10:00:00.000Z", folder="batch_1"):
    return {
        "metadata": {"id": n, "name": f"item_{n:03d}", "folder_name": folder, "status": status, "updatedAt": updated},
        "data": data,
    }


def write(folder: Path, *docs: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (folder / f"{doc['metadata']['name']}.json").write_text(json.dumps(doc))


def extract(docs: list[dict], ids, columns=None, types=None) -> pa.Table:
    items = [
        SAItem(d["metadata"]["id"], d["metadata"]["name"], "f", d["metadata"]["status"], d["metadata"]["updatedAt"])
        for d in docs
    ]
    return to_table(items, {d["metadata"]["id"]: d["data"] for d in docs}, column_mapping(ids, columns, types), "p")


# --- extraction ----------------------------------------------------------------------------------------------


def test_every_component_kind_keeps_its_type():
    docs = [
        item(1, {
            "prompt": {"value": "Explain photosynthesis."},           # text input
            "quality": {"value": "Good"},                             # single-select / radio
            "issues": {"value": ["Too long", "Off-topic"]},           # multi-select / checkbox
            "score": {"value": 4},                                    # number (integers)
            "confidence": {"value": 0.75},                            # number (decimals)
            "reviewed_on": {"value": "2024-05-01"},                   # date-like text
            "turn_rating": [{"value": 5, "element_path": ["turns", 1, "turn_rating"]},
                            {"value": 3, "element_path": ["turns", 0, "turn_rating"]}],  # inside a group
        }),
        item(2, {"prompt": {"value": "Why?"}, "issues": {"value": []}, "score": {"value": 2}, "confidence": {"value": 1},
                 "turn_rating": [{"value": 1, "element_path": ["turns", 0, "turn_rating"]}]}),
    ]  # fmt: skip
    ids = "prompt, quality, issues, score, confidence, reviewed_on, turn_rating, notes"
    table = extract(docs, ids, "prompt, quality, issues, score, confidence, reviewed, turns, notes")
    assert table.schema.field("prompt").type == pa.string()
    assert table.schema.field("quality").type == pa.string()
    assert table.schema.field("issues").type == pa.list_(pa.string())
    assert table.schema.field("score").type == pa.float64()  # numbers are DOUBLE unless declared BIGINT
    assert table.schema.field("confidence").type == pa.float64()  # 0.75 and 1 over the batch -> DOUBLE
    assert table.schema.field("reviewed").type == pa.string()  # date-like stays text unless declared
    assert table.schema.field("turns").type == pa.list_(pa.float64())
    assert table.schema.field("notes").type == pa.null()  # never seen: takes the table's type (or STRING)
    rows = table.to_pylist()
    assert rows[0]["turns"] == [3, 5]  # element_path order
    assert rows[0]["issues"] == ["Too long", "Off-topic"]
    assert rows[1]["quality"] is None and rows[1]["reviewed"] is None  # missing -> NULL, never ''
    assert rows[1]["issues"] == [] and rows[1]["confidence"] == 1.0
    assert [r["sa_item_id"] for r in rows] == [1, 2]
    assert rows[0]["sa_updated_at"] == dt.datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert table.column_names[:6] == [
        "sa_item_id",
        "sa_item_name",
        "sa_folder",
        "sa_status",
        "sa_updated_at",
        "sa_project",
    ]


def test_declared_types_win_over_inference():
    docs = [item(1, {"d": {"value": "2024-05-01"}, "n": {"value": 4}, "t": {"value": 7}, "x": {"value": None}})]
    types = {"d": "DATE", "n": "DOUBLE", "t": "string", "x": "BIGINT"}
    table = extract(docs, ["d", "n", "t", "x"], None, types)
    assert table.schema.types == [pa.int64(), pa.string(), pa.string(), pa.string(), pa.timestamp("us", "UTC"),
                                  pa.string(), pa.date32(), pa.float64(), pa.string(), pa.int64()]  # fmt: skip
    row = table.to_pylist()[0]
    assert (row["d"], row["n"], row["t"], row["x"]) == (dt.date(2024, 5, 1), 4.0, "7", None)


def test_declared_type_that_a_value_does_not_fit_names_the_item():
    docs = [item(1, {"d": {"value": "2024-05-01"}}), item(2, {"d": {"value": "next tuesday"}})]
    with pytest.raises(
        SuperAnnotateDataError, match=r"Column 'd': item 2 \('item_002'\) has 'next tuesday'.*DATE"
    ) as e:
        extract(docs, ["d"], None, {"d": "DATE"})
    assert "the sensor requests it again" in e.value.description and not e.value.allow_retries
    assert {k: v.value for k, v in e.value.metadata.items()} == {
        "item_id": 2, "item_name": "item_002", "column": "d", "value": "'next tuesday'", "expected": "DATE"
    }  # fmt: skip


def test_mixed_kinds_across_items_ask_for_a_declared_type():
    docs = [item(1, {"c": {"value": 3}}), item(2, {"c": {"value": "three"}})]
    with pytest.raises(SuperAnnotateDataError, match=r"'c'.*int, str.*column_types=\{'c': 'STRING'\}"):
        extract(docs, ["c"])
    assert extract(docs, ["c"], None, {"c": "STRING"})["c"].to_pylist() == ["3", "three"]


@pytest.mark.parametrize(
    ("ids", "columns", "types", "message"),
    [
        ("a, b, c", "x, y", None, "sa_component_ids has 3 entries and databricks_columns 2"),
        ("a, b", "x, X", None, "'x' and 'X' name the same column"),
        ("a", "my col", None, "'my col' cannot name a Delta column"),
        ("a", "sa_item_id", None, "reserved for item metadata"),
        ("", None, None, "sa_component_ids is empty"),
        ("a", "x", {"y": "DATE"}, "column_types names 'y'"),
        ("a", "x", {"x": "DATETIME2"}, r"column_types\['x'\]: 'DATETIME2' is not a Databricks SQL type"),
    ],
)
def test_mapping_errors_name_the_fix(ids, columns, types, message):
    with pytest.raises(SuperAnnotateConfigError, match=message):
        column_mapping(ids, columns, types)


def test_lists_and_comma_strings_map_by_position():
    by_string = column_mapping(" prompt_id, category ,answer ", "id_col, cat, ans")
    by_list = column_mapping(["prompt_id", "category", "answer"], ["id_col", "cat", "ans"])
    assert by_string == by_list
    assert by_string.columns == ("id_col", "cat", "ans")
    assert column_mapping("a, b").columns == ("a", "b")  # no databricks_columns: named after the components


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"create_delta_table": "yes"}, "create_delta_table must be true or false, not 'yes'"),
        ({"statuses": []}, r"statuses \[\]: give a list of one or more workflow status names"),
        ({"db_table": "qa review"}, "Invalid table name 'qa review'"),
        ({"db_volume": "my/volume"}, "Invalid table name 'my/volume'"),
        ({"batch_size": 0}, "batch_size=0"),
    ],
)
def test_builder_errors_are_raised_at_definition_time(kwargs, message):
    with pytest.raises(SuperAnnotateConfigError, match=message):
        build_superannotate_asset(sa_component_ids="a", **kwargs)


def test_template_string_flags_are_accepted():
    for value, expected in (("True", True), ("false", False), (False, False)):
        asset = build_superannotate_asset(sa_component_ids="a", create_delta_table=value)
        assert asset.metadata_by_key[asset.key]["create_table"] == expected


def test_a_bad_export_file_names_the_file_and_the_shape(tmp_path):
    (tmp_path / "broken.json").write_text('{"metadata": {"name": "x"}}')
    with pytest.raises(SuperAnnotateError, match=r"broken.json is not an item export: KeyError: 'id'"):
        list(LocalSuperAnnotateExport(path=str(tmp_path), project="p").list_items(["Completed"]))


# --- sensor ------------------------------------------------------------------------------------------------


def tick(sensor, source, cursor, instance):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"superannotate": source})
    return sensor(context)


def test_sensor_over_three_ticks(tmp_path):
    export = tmp_path / "export"
    write(
        export,
        item(1, {"a": {"value": "x"}}, updated="2024-05-01T10:00:00.000Z"),
        item(2, {"a": {"value": "y"}}, updated="2024-05-01T10:05:00.000Z", folder="root"),
        item(3, {"a": {"value": "z"}}, updated="2024-05-01T10:05:00.000Z"),
        item(4, {"a": {"value": "w"}}, updated="2024-05-01T10:06:00.000Z", status="InProgress"),
    )
    source = LocalSuperAnnotateExport(path=str(export), project="qa")
    asset = build_superannotate_asset(sa_component_ids="a", project="qa")
    sensor = build_superannotate_sensor(asset, batch_size=2, lookback_seconds=120)
    op = asset.op.name

    def config(*items):
        return {"ops": {op: {"config": {"items": [
            {"id": i, "name": f"item_{i:03d}", "folder": f, "status": "Completed", "updated_at": u} for i, f, u in items
        ]}}}}  # fmt: skip

    with dg.instance_for_test() as instance:
        # tick 1: three completed items, oldest first, in batches of two
        first = tick(sensor, source, None, instance)
        # a batch's run key: the project and a digest of its items' project:item:updatedAt keys
        assert [(r.run_key, r.run_config) for r in first.run_requests] == [
            (
                "qa:batch:22705fe939b4d53e",  # sha1("qa:1:2024-05-01T10:00:00.000Z|qa:2:2024-05-01T10:05:00.000Z")
                config((1, "batch_1", "2024-05-01T10:00:00.000Z"), (2, "root", "2024-05-01T10:05:00.000Z")),
            ),
            ("qa:3:2024-05-01T10:05:00.000Z", config((3, "batch_1", "2024-05-01T10:05:00.000Z"))),
        ]
        assert first.run_requests[0].tags == {
            "superannotate/project": "qa", "superannotate/items": "2",
            "superannotate/run_key": first.run_requests[0].run_key, "superannotate/attempt": "1",
        }  # fmt: skip
        assert [r.asset_selection for r in first.run_requests] == [[asset.key], [asset.key]]  # runs name a target
        # item 1 is older than the look-back window below the watermark: no need to remember it
        assert json.loads(first.cursor) == {
            "watermark": "2024-05-01T10:05:00.000Z",
            "requested": {"2": "2024-05-01T10:05:00.000Z", "3": "2024-05-01T10:05:00.000Z"},
        }

        # tick 2: nothing new; items 2 and 3 are inside the look-back window and are not requested again
        second = tick(sensor, source, first.cursor, instance)
        assert second.run_requests == []
        assert second.skip_reason.skip_message == (
            "No new item versions in qa: 2 item(s) with status Completed updated since 2024-05-01 10:03:00 UTC, "
            "all already requested."
        )
        assert json.loads(second.cursor) == {
            "watermark": "2024-05-01T10:05:00.000Z",
            "requested": {"2": "2024-05-01T10:05:00.000Z", "3": "2024-05-01T10:05:00.000Z"},
        }

        # tick 3: item 2 edited (newer updatedAt) and a late item 5 inside the look-back window
        write(
            export,
            item(2, {"a": {"value": "y2"}}, updated="2024-05-01T11:00:00.000Z", folder="root"),
            item(5, {"a": {"value": "v"}}, updated="2024-05-01T10:04:30.000Z"),
        )
        third = tick(sensor, source, second.cursor, instance)
        assert [(r.run_key, r.run_config) for r in third.run_requests] == [
            (
                "qa:batch:2089beb740870457",
                config((5, "batch_1", "2024-05-01T10:04:30.000Z"), (2, "root", "2024-05-01T11:00:00.000Z")),
            )
        ]
        assert json.loads(third.cursor) == {
            "watermark": "2024-05-01T11:00:00.000Z",
            "requested": {"2": "2024-05-01T11:00:00.000Z"},
        }

        # a restart evaluates the stored cursor again: nothing is requested twice
        again = tick(sensor, source, third.cursor, instance)
        assert again.run_requests == [] and "1 item(s)" in again.skip_reason.skip_message


def test_single_item_batches_use_project_item_updated_at_run_keys(tmp_path):
    write(tmp_path, item(7, {}, updated="2024-05-01T10:00:00.000Z"), item(8, {}, updated="2024-05-01T10:00:01.000Z"))
    asset = build_superannotate_asset(sa_component_ids="a")
    sensor = build_superannotate_sensor(asset, batch_size=1)
    with dg.instance_for_test() as instance:
        result = tick(sensor, LocalSuperAnnotateExport(path=str(tmp_path), project="qa"), None, instance)
    assert [r.run_key for r in result.run_requests] == [
        "qa:7:2024-05-01T10:00:00.000Z",
        "qa:8:2024-05-01T10:00:01.000Z",
    ]


def test_a_project_other_than_the_resources_is_a_clear_error(tmp_path):
    write(tmp_path, item(1, {}))
    sensor = build_superannotate_sensor(build_superannotate_asset(sa_component_ids="a", project="other"))
    with dg.instance_for_test() as instance, pytest.raises(Exception, match="for project 'other' but its resource"):
        tick(sensor, LocalSuperAnnotateExport(path=str(tmp_path), project="qa"), None, instance)


# --- asset -------------------------------------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path) -> LocalSQLWarehouse:
    return LocalSQLWarehouse(path=str(tmp_path / "wh" / "warehouse.duckdb"))


@pytest.fixture(params=["local", "server"])
def both(request, tmp_path):
    """The embedded warehouse, and the server through the real connector."""
    with make_backend(request.param, tmp_path / "backend") as value:
        yield value


def materialize(asset, warehouse, export, run_config=None, **kwargs):
    io_manager = (  # table_stats: the table's row count after each merge
        warehouse.io_manager(table_stats=True)
        if isinstance(warehouse, Backend)
        else DatabricksIOManager(warehouse=warehouse, table_stats=True)
    )
    return dg.materialize(
        [asset],
        resources={
            "io_manager": io_manager,
            "superannotate": LocalSuperAnnotateExport(path=str(export), project="qa"),
        },
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
        **kwargs,
    )


def rows(warehouse, sql):
    warehouse = warehouse.warehouse if isinstance(warehouse, Backend) else warehouse
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return [tuple(r) for r in cursor.fetchall()]


def test_rerunning_a_batch_leaves_one_row_per_item(tmp_path, warehouse):
    export = tmp_path / "export"
    write(export, *(item(n, {"score": {"value": n}, "tags": {"value": ["a"]}}) for n in range(1, 6)))
    write(export, item(6, {"score": {"value": 9}}, status="InProgress"))
    asset = build_superannotate_asset(sa_component_ids="score, tags", db_schema="sa", db_table="scores")
    for _ in range(2):
        assert materialize(asset, warehouse, export).success
    assert rows(warehouse, "SELECT count(*), count(DISTINCT sa_item_id) FROM main.sa.scores") == [(5, 5)]

    # an edit of item 3 arrives as a sensor batch: merged in place
    write(export, item(3, {"score": {"value": 30}}, updated="2024-05-02T00:00:00.000Z"))
    batch = {
        "id": 3,
        "name": "item_003",
        "folder": "batch_1",
        "status": "Completed",
        "updated_at": "2024-05-02T00:00:00.000Z",
    }
    run_config = {"ops": {asset.op.name: {"config": {"items": [batch]}}}}
    result = materialize(asset, warehouse, export, run_config=run_config)
    assert result.success
    meta = result.asset_materializations_for_node(asset.op.name)[0].metadata
    # the table's rows after the merge, and what this one-item run changed
    assert (meta["dagster/row_count"].value, meta["dbload/staged_rows"].value) == (5, 1)
    assert (meta["dbload/rows_updated"].value, meta["dbload/rows_inserted"].value) == (1, 0)
    assert rows(
        warehouse, "SELECT sa_item_id, score, tags, sa_updated_at FROM main.sa.scores WHERE sa_item_id = 3"
    ) == [
        (3, 30, None, dt.datetime(2024, 5, 2, tzinfo=UTC))
    ]  # the component removed in the edit is NULL now, and the all-null column kept the table's type
    assert rows(warehouse, "SELECT count(*) FROM main.sa.scores") == [(5,)]


def test_create_delta_table_false_and_no_table_is_a_clear_error(tmp_path, warehouse):
    export = tmp_path / "export"
    write(export, item(1, {"a": {"value": "x"}}))
    asset = build_superannotate_asset(sa_component_ids="a", db_table="missing", create_delta_table="False")
    with pytest.raises(Exception, match=r"Table main.superannotate.missing does not exist.*create_delta_table=True"):
        materialize(asset, warehouse, export)
    assert ("superannotate",) not in rows(warehouse, "SHOW SCHEMAS IN main")  # refused before any DDL
    assert not any((Path(warehouse.root) / "staging").rglob("*.parquet"))


def test_db_volume_stages_in_that_volume(tmp_path, warehouse):
    export = tmp_path / "export"
    write(export, item(1, {"a": {"value": "x"}}))
    asset = build_superannotate_asset(sa_component_ids="a", db_volume="landing", db_schema="sa", db_table="t")
    result = materialize(asset, warehouse, export)
    meta = result.asset_materializations_for_node(asset.op.name)[0].metadata
    assert meta["dbload/staged_url"].value.startswith("/Volumes/main/sa/landing/superannotate/main.sa.t/")
    assert "CREATE VOLUME IF NOT EXISTS `main`.`sa`.`landing`" in meta["dbload/bookkeeping_sql"].value
    assert rows(warehouse, "SELECT sa_item_id, a FROM main.sa.t") == [(1, "x")]


def test_integers_after_decimals_keep_the_double_column(tmp_path, warehouse):
    export = tmp_path / "export"
    write(export, item(1, {"c": {"value": 0.5}}))
    asset = build_superannotate_asset(sa_component_ids="c", db_schema="sa", db_table="conf")
    assert materialize(asset, warehouse, export).success
    write(export, item(1, {"c": {"value": 1}}, updated="2024-05-03T00:00:00.000Z"))
    assert materialize(asset, warehouse, export).success  # BIGINT values written into the DOUBLE column
    assert rows(warehouse, "DESCRIBE TABLE main.sa.conf")[-1][:2] == ("c", "double")
    assert rows(warehouse, "SELECT c FROM main.sa.conf") == [(1.0,)]


def test_example_export_loads_every_completed_item():
    export = Path(__file__).resolve().parent.parent / "example_project" / "superannotate_export"
    source = LocalSuperAnnotateExport(path=str(export), project="qa-review")
    items = [i for page in source.list_items(["Completed"], page_size=7) for i in page]
    pages = list(source.list_items(["Completed"], page_size=7))
    assert len(items) == 30 and [len(p) for p in pages] == [7, 7, 7, 7, 2]
    data = source.get_annotations([i.id for i in items])
    kinds = {type(d.get(c, {}).get("value") if isinstance(d.get(c), dict) else d.get(c)).__name__
             for d in data.values() for c in ("prompt", "issues", "score", "confidence", "turn_rating", "notes")}  # fmt: skip
    assert {"str", "list", "int", "float", "NoneType"} <= kinds


def test_a_bad_value_fails_the_run_with_the_fix_first(tmp_path, warehouse):
    write(tmp_path, item(1, {"d": {"value": "2024-05-01"}}), item(2, {"d": {"value": "next tuesday"}}))
    asset = build_superannotate_asset(sa_component_ids="d", column_types={"d": "DATE"})
    result = materialize(asset, warehouse, tmp_path, raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = failure.step_failure_data.user_failure_data
    assert data.description.startswith("Column 'd': item 2 ('item_002') has 'next tuesday', which is not DATE.")
    assert data.metadata["item_id"].value == 2


def test_an_older_item_version_never_overwrites_a_newer_row(tmp_path, both):
    write(tmp_path, item(1, {"a": {"value": "newer"}}, updated="2024-05-02T00:00:00.000Z"))
    asset = build_superannotate_asset(sa_component_ids="a", db_schema="sa", db_table="t")
    assert materialize(asset, both, tmp_path).success
    late = {
        "id": 1,
        "name": "item_001",
        "folder": "root",
        "status": "Completed",
        "updated_at": "2024-05-01T00:00:00.000Z",
    }
    write(tmp_path, item(1, {"a": {"value": "older"}}, updated="2024-05-01T00:00:00.000Z"))
    run_config = {"ops": {asset.op.name: {"config": {"items": [late]}}}}
    assert materialize(asset, both, tmp_path, run_config=run_config).success  # a run that was slow to start
    assert rows(both, "SELECT a, sa_updated_at FROM main.sa.t") == [("newer", dt.datetime(2024, 5, 2, tzinfo=UTC))]


def test_the_items_of_failed_runs_are_requested_again_then_given_up_on(tmp_path, both):
    write(tmp_path, item(1, {"a": {"value": "x"}}, updated="2024-05-01T10:00:00.000Z"))
    asset = build_superannotate_asset(sa_component_ids="a", project="qa")
    sensor = build_superannotate_sensor(asset, batch_size=5, max_attempts=2)
    source = LocalSuperAnnotateExport(path=str(tmp_path), project="qa")
    broken = LocalSuperAnnotateExport(path=str(tmp_path / "missing"), project="qa")

    def launch(request, instance, resource):  # as the daemon does, with a source that fails
        tags = {**request.tags, "dagster/sensor_name": sensor.name, "dagster/run_key": request.run_key}
        return dg.materialize(
            [asset], run_config=request.run_config, tags=tags, instance=instance, raise_on_error=False,
            resources={"io_manager": both.io_manager(), "superannotate": resource},
        )  # fmt: skip

    with dg.instance_for_test() as instance:
        first = tick(sensor, source, None, instance)
        (request,) = first.run_requests
        assert not launch(request, instance, broken).success
        second = tick(sensor, source, first.cursor, instance)
        (retry,) = second.run_requests  # the failed run's items, again, under a new run key
        assert retry.run_key == f"{request.run_key}:attempt-2" and retry.run_config == request.run_config
        assert retry.tags["superannotate/attempt"] == "2"
        assert json.loads(second.cursor)["retried"]
        assert tick(sensor, source, second.cursor, instance).run_requests == []  # requested once
        failed = launch(retry, instance, broken)
        third = tick(sensor, source, second.cursor, instance)
        assert third.run_requests == []
        assert f"Gave up on the items of run(s) ['{failed.run_id[:8]}'] after 2 failed runs" in (
            third.skip_reason.skip_message
        )
        ok = launch(retry, instance, source)  # e.g. after the source is fixed, a person re-executes
        assert ok.success and rows(both, "SELECT sa_item_id FROM main.superannotate.annotations") == [(1,)]


def test_column_types_come_from_components_not_from_one_batch(tmp_path, both):
    write(tmp_path, item(1, {"score": {"value": 4}}, updated="2024-05-01T00:00:00.000Z"))  # no "notes" anywhere
    asset = build_superannotate_asset(sa_component_ids="score, notes", db_schema="sa", db_table="typed")
    assert materialize(asset, both, tmp_path).success
    assert [r[:2] for r in rows(both, "DESCRIBE TABLE main.sa.typed")][-1] == ("score", "double")
    write(tmp_path, item(1, {"score": {"value": 4.5}, "notes": {"value": "later"}}, updated="2024-05-02T00:00:00.000Z"))
    assert materialize(asset, both, tmp_path).success  # an edit with a decimal, and the first notes
    assert rows(both, "SELECT score, notes FROM main.sa.typed") == [(4.5, "later")]
    assert [r[:2] for r in rows(both, "DESCRIBE TABLE main.sa.typed")][-1] == ("notes", "string")


def test_a_type_error_names_the_column_the_component_and_column_types(tmp_path, warehouse):
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute("CREATE SCHEMA main.sa")
        cursor.execute(
            "CREATE TABLE main.sa.old (sa_item_id BIGINT, sa_item_name STRING, sa_folder STRING, sa_status STRING, "
            "sa_updated_at TIMESTAMP, sa_project STRING, score STRING)"
        )
    write(tmp_path, item(1, {"rating": {"value": 4.5}}))
    asset = build_superannotate_asset(
        sa_component_ids="rating", databricks_columns="score", db_schema="sa", db_table="old"
    )
    with pytest.raises(
        ValueError,
        match=r"column 'score' \(SuperAnnotate component 'rating'; column_types sets its type\) is STRING in the table, DOUBLE",
    ):
        materialize(asset, warehouse, tmp_path)


def test_runs_read_items_as_they_are_when_they_start_and_item_ids_load_exactly_those(tmp_path, both):
    write(tmp_path, item(1, {"a": {"value": "v1"}}, updated="2024-05-01T00:00:00.000Z"), item(2, {"a": {"value": "b"}}))
    asset = build_superannotate_asset(sa_component_ids="a", db_schema="sa", db_table="now")
    seen = {
        "id": 1,
        "name": "item_001",
        "folder": "root",
        "status": "Completed",
        "updated_at": "2024-05-01T00:00:00.000Z",
    }
    write(tmp_path, item(1, {"a": {"value": "v2"}}, updated="2024-05-03T00:00:00.000Z", status="QualityCheck"))
    run_config = {"ops": {asset.op.name: {"config": {"items": [seen]}}}}  # requested before the edit
    assert materialize(asset, both, tmp_path, run_config=run_config).success
    assert rows(both, "SELECT sa_item_id, a, sa_status, sa_updated_at FROM main.sa.now") == [
        (1, "v2", "QualityCheck", dt.datetime(2024, 5, 3, tzinfo=UTC))
    ]
    run_config = {"ops": {asset.op.name: {"config": {"item_ids": [2, 99]}}}}  # fired in Explore; 99 is gone
    assert materialize(asset, both, tmp_path, run_config=run_config).success
    assert rows(both, "SELECT sa_item_id, a FROM main.sa.now ORDER BY 1") == [(1, "v2"), (2, "b")]


@pytest.mark.parametrize("on_removed", ["keep", "delete"])
def test_items_that_leave_the_statuses_are_kept_or_deleted_by_the_full_load(on_removed, tmp_path, both):
    write(tmp_path, item(1, {"a": {"value": "x"}}), item(2, {"a": {"value": "y"}}), item(3, {"a": {"value": "z"}}))
    asset = build_superannotate_asset(sa_component_ids="a", db_schema="sa", db_table="gone", on_removed=on_removed)
    assert materialize(asset, both, tmp_path).success
    write(tmp_path, item(2, {"a": {"value": "y"}}, status="Returned", updated="2024-05-09T00:00:00.000Z"))
    (tmp_path / "item_003.json").unlink()  # deleted in SuperAnnotate
    batch = {"ops": {asset.op.name: {"config": {"item_ids": [1]}}}}
    assert materialize(asset, both, tmp_path, run_config=batch).success  # a batch run never deletes
    assert rows(both, "SELECT sa_item_id FROM main.sa.gone ORDER BY 1") == [(1,), (2,), (3,)]
    result = materialize(asset, both, tmp_path)  # the full load (Materialize with no config)
    expected = [(1,), (2,), (3,)] if on_removed == "keep" else [(1,)]
    assert rows(both, "SELECT sa_item_id FROM main.sa.gone ORDER BY 1") == expected
    meta = result.asset_materializations_for_node(asset.op.name)[0].metadata
    assert meta["dbload/rows_deleted"].value == (0 if on_removed == "keep" else 2)
