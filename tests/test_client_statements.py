"""Statements other clients' suites send (dlt's delete-insert merge, SQLAlchemy's compliance suite, dataframe
libraries' generated SQL) that whole families of their tests rely on, on both warehouses."""

import pytest
from backends import backend as make_backend
from backends import statement_runner
from databricks.sql.exc import ServerOperationError

from dagster_dbload.local.errors import LocalSQLError

ERRORS = (LocalSQLError, ServerOperationError)


@pytest.fixture(params=["local", "server"])
def run(request, tmp_path):
    with make_backend(request.param, tmp_path) as backend, backend.warehouse.connect() as connection:
        execute = statement_runner(connection)
        execute("CREATE TABLE t (id INT, a STRING)")
        execute("INSERT INTO t VALUES (1, 'x'), (5, 'y')")
        yield execute


def test_delete_with_a_table_alias(run):
    run("DELETE FROM t AS d WHERE EXISTS (SELECT 1 FROM t AS s WHERE s.id = d.id AND s.a = 'y')")
    assert run("SELECT id FROM t") == [(1,)]
    run("DELETE FROM t AS d WHERE d.id = 1")
    assert run("SELECT count(*) FROM t") == [(0,)]


def test_add_column_lists_several_columns_without_parentheses(run):
    run("ALTER TABLE t ADD COLUMN b DOUBLE, c DECIMAL(10, 2) COMMENT 'a, b'")
    described = run("DESCRIBE TABLE t")
    assert [(r[0], r[1], r[2]) for r in described[:4]] == [("id", "int", None), ("a", "string", None),
                                                           ("b", "double", None), ("c", "decimal(10,2)", "a, b")]  # fmt: skip


def test_comment_is_null_removes_the_comment(run):
    run("COMMENT ON TABLE t IS 'orders'")
    run("COMMENT ON TABLE t IS NULL")
    assert run("SELECT comment FROM main.information_schema.tables WHERE table_name = 't'") == [(None,)]


def test_a_cte_before_insert_is_visible_to_its_query(run):
    run("WITH c AS (SELECT 9 AS id, 'z' AS a) INSERT INTO t SELECT id, a FROM c")
    assert run("SELECT id, a FROM t WHERE id = 9") == [(9, "z")]


@pytest.mark.parametrize(
    "statement", ["INSERT INTO t (id) VALUES (3) RETURNING id", "DELETE FROM t WHERE id = 1 RETURNING id",
                  "UPDATE t SET a = 'q' WHERE id = 1 RETURNING id"],
)  # fmt: skip
def test_returning_is_refused_as_databricks_refuses_it(run, statement):
    with pytest.raises(ERRORS, match=r"PARSE_SYNTAX_ERROR.*RETURNING"):
        run(statement)
    assert run("SELECT id, a FROM t ORDER BY id") == [(1, "x"), (5, "y")]


@pytest.mark.parametrize("how", ["CLONE", "SHALLOW CLONE", "DEEP CLONE"])
def test_clone_copies_the_columns_properties_and_rows(run, how):
    run("COMMENT ON TABLE t IS 'orders'")
    run(f"CREATE TABLE c {how} t")
    assert [tuple(r[:2]) for r in run("DESCRIBE TABLE c")] == [("id", "int"), ("a", "string")]
    assert run("SELECT id, a FROM c ORDER BY id") == [(1, "x"), (5, "y")]
    assert run("SELECT comment FROM main.information_schema.tables WHERE table_name = 'c'") == [("orders",)]
    run("INSERT INTO c VALUES (9, 'z')")  # a table of its own
    assert run("SELECT count(*) FROM t") == [(2,)]


def test_unquoted_tblproperties_and_cluster_by_auto(run):
    run("CREATE TABLE p (id INT) CLUSTER BY AUTO TBLPROPERTIES (delta.appendOnly = true, 'x.y' = 'z')")
    properties = dict(run("SHOW TBLPROPERTIES p"))
    assert properties["delta.appendOnly"] == "true" and properties["x.y"] == "z"


def test_rename_to_keeps_the_rows_and_history_under_the_new_name(run):
    run("CREATE SCHEMA IF NOT EXISTS other")
    run("ALTER TABLE t RENAME TO other.renamed")
    assert run("SELECT id FROM other.renamed ORDER BY id") == [(1,), (5,)]
    assert len(run("DESCRIBE HISTORY other.renamed")) == 2
    with pytest.raises(ERRORS, match="TABLE_OR_VIEW_NOT_FOUND"):
        run("SELECT * FROM t")
    run("CREATE TABLE t (id INT)")
    with pytest.raises(ERRORS, match="TABLE_OR_VIEW_ALREADY_EXISTS"):
        run("ALTER TABLE t RENAME TO other.renamed")
