"""report.metadata is a pure function from the request, plan, staged files and outcome to the metadata the UI
shows: checked here by its output, without a warehouse."""

import datetime as dt

import dagster as dg

from dagster_dbload import loader
from dagster_dbload.naming import TableRef
from dagster_dbload.partitions import PartitionSlice
from dagster_dbload.report import Outcome, load_counts, metadata
from dagster_dbload.request import AssetSettings, WriteRequest
from dagster_dbload.sql import ColumnSpec
from dagster_dbload.staging import StagedFiles

REF = TableRef("main", "shop", "orders")
PLAN = loader.Plan(create=False, columns=[ColumnSpec("id", "BIGINT", "Order id"), ColumnSpec("amount", "DOUBLE")])
STAGED = StagedFiles("/stage/x/", ["part-00000-0.parquet", "part-00000-1.parquet"], 3 * 1024 * 1024, 1000, 0.25)
STATEMENTS = ("DESCRIBE TABLE `main`.`shop`.`orders`", "MERGE INTO `main`.`shop`.`orders` AS t USING ...",
              "DESCRIBE HISTORY `main`.`shop`.`orders` LIMIT 1")  # fmt: skip


def request(mode: str, partitions=(), valid_at=None) -> WriteRequest:
    return WriteRequest(AssetSettings("Asset 'orders'", REF, mode=mode), partitions=partitions, valid_at=valid_at)


def test_a_merge_reports_its_counts_statements_and_staging():
    outcome = Outcome(rows=1200, version=7, counts={"inserted": 200, "updated": 800}, seconds_loading=1.23456,
                      conflict_retries=1, statements=STATEMENTS)  # fmt: skip
    md = metadata(request("merge"), PLAN, STAGED, outcome, "https://host/explore/data/main/shop/orders", True)
    assert md["dagster/row_count"] == 1200 and "dagster/partition_row_count" not in md
    assert md["dagster/table_name"] == "main.shop.orders"
    assert md["dagster/uri"] == dg.MetadataValue.url("https://host/explore/data/main/shop/orders")
    assert [(c.name, c.type, c.description) for c in md["dagster/column_schema"].columns] == [
        ("id", "bigint", "Order id"), ("amount", "double", None)
    ]  # fmt: skip
    assert "MERGE INTO" in md["dbload/sql"].value and "DESCRIBE" not in md["dbload/sql"].value
    assert md["dbload/bookkeeping_sql"].value == [STATEMENTS[0], STATEMENTS[2]]
    assert (md["dbload/rows_inserted"], md["dbload/rows_updated"]) == (200, 800) and "dbload/rows_deleted" not in md
    assert (md["dbload/staged_rows"], md["dbload/staged_files"], md["dbload/staged_size"]) == (1000, 2, "3.0 MiB")
    assert (md["dbload/seconds_staging"], md["dbload/seconds_loading"]) == (0.25, 1.235)
    assert (md["dbload/table_version"], md["dbload/conflict_retries"], md["dbload/write_mode"]) == (7, 1, "merge")
    assert md["dbload/staged_files_deleted"] is True
    assert "dbload/history_rows" not in md


def test_a_partition_reports_a_partition_row_count_and_no_uri_without_one():
    part = (PartitionSlice("day", ("2024-01-01",)),)
    md = metadata(request("replace", part), PLAN, STAGED, Outcome(rows=1000, version=1), None, False)
    assert md["dagster/partition_row_count"] == 1000 and "dagster/row_count" not in md
    assert "dagster/uri" not in md and md["dbload/staged_files_deleted"] is False


def test_scd2_reports_its_history_and_validity():
    moment = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    md = metadata(
        request("scd2", valid_at=moment), PLAN, STAGED, Outcome(rows=3, version=2, history_rows=5), None, True
    )
    assert md["dbload/history_rows"] == 5 and md["dbload/valid_from"] == dg.MetadataValue.timestamp(moment)
    assert [c.name for c in md["dagster/column_schema"].columns] == ["id", "amount", "_valid_from", "_valid_to",
                                                                     "_row_hash"]  # fmt: skip


def test_load_counts_read_the_statements_answer():
    class Row:
        def asDict(self):  # noqa: N802 - the connector's Row API
            return {"num_affected_rows": 3, "num_inserted_rows": 2, "num_updated_rows": 1, "num_deleted_rows": None}

    assert load_counts(Row()) == {"inserted": 2, "updated": 1}
    assert load_counts(None) == {}
