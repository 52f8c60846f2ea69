"""build_table_checks: asset checks from primary_key, dagster/column_schema and the load's own metrics, one query
each, on the embedded warehouse and through LocalSQLWarehouseServer."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest
from backends import backend as make_backend
from backends import sql_blocks

from dagster_dbload import build_table_checks

SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("id", "bigint", constraints=dg.TableColumnConstraints(nullable=False)),
        dg.TableColumn("email", "string", constraints=dg.TableColumnConstraints(nullable=False)),
        dg.TableColumn("note", "string"),
    ]
)


@pytest.fixture(params=["local", "server"])
def backend(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def results(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_checks_pass_on_a_good_load_and_fail_naming_the_problem(backend):
    @dg.asset(metadata={"primary_key": ["id"], "dagster/column_schema": SCHEMA})
    def members() -> pa.Table:
        return pa.table({"id": [1, 2, 3], "email": ["a@x", "b@x", "c@x"], "note": [None, "n", None]})

    checks = build_table_checks([members], blocking=True)
    assert sorted(c.check_key.name for c in checks) == ["not_null", "primary_key", "rows_written"]
    with backend.warehouse.connect() as connection:  # a table another tool made, without NOT NULL columns
        connection.cursor().execute("CREATE TABLE members (id BIGINT, email STRING, note STRING)")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"io_manager": backend.io_manager()}
    good = results(dg.materialize([members, *checks], resources=resources, instance=instance))
    assert all(e.passed for e in good.values())
    assert good["rows_written"].metadata["rows_written"].value == 3
    assert good["primary_key"].metadata["duplicate_keys"].value == 0

    with backend.warehouse.connect() as connection:  # another writer breaks the table
        connection.cursor().execute("INSERT INTO members VALUES (3, NULL, 'dup'), (NULL, 'e@x', NULL)")
    bad = results(dg.materialize([members, *checks], resources=resources, instance=instance,
                                 selection=dg.AssetSelection.all_asset_checks(), raise_on_error=False))  # fmt: skip
    assert not bad["primary_key"].passed and not bad["not_null"].passed
    assert (
        bad["primary_key"].metadata["duplicate_keys"].value == 1 and bad["primary_key"].metadata["null_keys"].value == 1
    )
    assert bad["not_null"].metadata["nulls/email"].value == 1 and bad["not_null"].metadata["nulls/id"].value == 1
    assert bad["rows_written"].passed  # the load itself wrote what it staged


def test_merges_get_key_checks_but_no_rows_written_check(backend):
    @dg.asset(metadata={"write_mode": "merge", "primary_key": ["id"]})
    def upserts() -> pa.Table:
        return pa.table({"id": [1, 2], "v": ["a", "b"]})

    checks = build_table_checks([upserts])
    assert [c.check_key.name for c in checks] == ["primary_key"]
    result = dg.materialize([upserts, *checks], resources={"io_manager": backend.io_manager()})
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_a_new_table_gets_not_null_columns_and_an_informational_primary_key(backend):
    @dg.asset(metadata={"primary_key": ["id"], "dagster/column_schema": SCHEMA})
    def people() -> pa.Table:
        return pa.table({"id": [1], "email": ["a@x"], "note": [None]}, schema=pa.schema(
            [("id", pa.int64()), ("email", pa.string()), ("note", pa.string())]))  # fmt: skip

    dg.materialize([people], resources={"io_manager": backend.io_manager()})
    extended = [tuple(r.values()) for r in backend.query("DESCRIBE TABLE EXTENDED people")]
    assert ("people_pk", "PRIMARY KEY (`id`)", "") in extended
    assert [r["is_nullable"] for r in backend.query(
        "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'people' ORDER BY ordinal_position")
    ] == ["NO", "NO", "YES"]  # fmt: skip
    with pytest.raises(Exception, match="DELTA_NOT_NULL_CONSTRAINT_VIOLATED"):
        backend.query("INSERT INTO people VALUES (2, NULL, 'x')")


def test_owners_and_tags_become_table_tags_set_only_when_they_differ(backend):
    labels = {"tags": {"domain": "crm", "tier": "gold"}}

    def make():
        @dg.asset(name="accounts", owners=["team:data", "ana@example.com"], tags=labels["tags"], kinds={"databricks"})
        def accounts() -> pa.Table:
            return pa.table({"id": [1, 2]})

        return accounts

    def load() -> list[str]:
        result = dg.materialize([make()], resources={"io_manager": backend.io_manager()})
        meta = result.get_asset_materialization_events()[0].materialization.metadata
        return [s.replace("( ", "(").replace(" )", ")") for s in sql_blocks(meta["dbload/sql"].value) if "TAGS" in s]

    assert load() == ["ALTER TABLE `main`.`default`.`accounts` SET TAGS ('domain' = 'crm', 'tier' = 'gold', "
                      "'dagster_owners' = 'team:data, ana@example.com')"]  # fmt: skip
    assert load() == []  # nothing changed: one read of information_schema.table_tags, no SET TAGS
    labels["tags"] = {"domain": "crm", "tier": "silver"}
    assert load() == ["ALTER TABLE `main`.`default`.`accounts` SET TAGS ('tier' = 'silver')"]
    tags = backend.query("SELECT tag_name, tag_value FROM information_schema.table_tags WHERE table_name = 'accounts'")
    assert {r["tag_name"]: r["tag_value"] for r in tags} == {
        "domain": "crm", "tier": "silver", "dagster_owners": "team:data, ana@example.com"
    }  # fmt: skip
    assert [r["operation"] for r in backend.query("DESCRIBE HISTORY accounts")][0] == "WRITE"  # tags are no commit
