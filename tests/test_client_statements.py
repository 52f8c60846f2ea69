"""Statements other clients' suites send (dlt's delete-insert merge, SQLAlchemy's compliance suite, dataframe
libraries' generated SQL) that whole families of their tests rely on, on both warehouses."""

import random
from decimal import ROUND_HALF_UP, Decimal, localcontext

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


def test_column_tags_are_kept_and_listed(run):
    run("ALTER TABLE t ALTER COLUMN a SET TAGS ('pii' = 'email', 'owner')")
    run("ALTER TABLE t SET TAGS ('env' = 'dev')")
    listed = "SELECT column_name, tag_name, tag_value FROM main.information_schema.column_tags WHERE table_name = 't'"
    assert sorted(run(listed)) == [("a", "owner", ""), ("a", "pii", "email")]
    run("ALTER TABLE t ALTER COLUMN a UNSET TAGS ('pii')")
    assert run(listed) == [("a", "owner", "")]
    with pytest.raises(ERRORS, match="UNRESOLVED_COLUMN"):
        run("ALTER TABLE t ALTER COLUMN nope SET TAGS ('k' = 'v')")


def test_strings_compared_with_datetime_columns_read_as_databricks_reads_them(run):
    run("CREATE TABLE e (ts TIMESTAMP, n TIMESTAMP_NTZ, d DATE, s STRING)")
    run("INSERT INTO e VALUES (TIMESTAMP'2026-12-05 03:59:55.443697', TIMESTAMP_NTZ'2026-12-05 03:59:55', "
        "DATE'2024-01-01', '2026-12-05 03:59:55 +0000')")  # fmt: skip
    assert run("SELECT count(*) FROM e WHERE ts = '2026-12-05 03:59:55.443697 +0000'") == [(1,)]
    assert run(
        "SELECT count(*) FROM e AS x WHERE x.ts > '2026-12-05 05:59:55 +0400' AND n <= '2026-12-05 03:59:55'"
    ) == [(1,)]
    assert run("SELECT count(*) FROM e WHERE d BETWEEN '2024' AND '2024-01' AND d IN ('2024-01-01 10:00:00')") == [(1,)]
    assert run("SELECT count(*) FROM e WHERE s = '2026-12-05 03:59:55 +0000'") == [(1,)]  # a string stays a string
    assert run("SELECT count(*) FROM e WHERE s = '2026-12-05 03:59:55+00:00'") == [(0,)]
    run("DELETE FROM e WHERE ts <> '2026-12-05 03:59:55.443697 +0000'")
    assert run("SELECT count(*) FROM e") == [(1,)]
    with pytest.raises(ERRORS, match="CAST_INVALID_INPUT"):
        run("SELECT count(*) FROM e WHERE ts = 'yesterday'")


def test_foreign_keys_are_kept_reported_and_dropped(run):
    run("CREATE TABLE p (id INT NOT NULL, k STRING NOT NULL, CONSTRAINT p_pk PRIMARY KEY (id, k))")
    run("CREATE TABLE u (id INT NOT NULL PRIMARY KEY, boss INT REFERENCES u (id))")
    run("CREATE TABLE c (cid INT, pid INT, pk STRING, CONSTRAINT c_p FOREIGN KEY (pid, pk) REFERENCES main.default.p)")
    run("ALTER TABLE c ADD CONSTRAINT c_u FOREIGN KEY (cid) REFERENCES u")
    described = run("DESCRIBE TABLE EXTENDED c")
    assert described[described.index(("# Constraints", "", "")) + 1 :] == [
        ("c_p", "FOREIGN KEY (`pid`, `pk`) REFERENCES `main`.`default`.`p` (`id`, `k`)", ""),
        ("c_u", "FOREIGN KEY (`cid`) REFERENCES `main`.`default`.`u` (`id`)", ""),
    ]
    assert sorted(run("SELECT constraint_name, constraint_type, table_name FROM main.information_schema.table_constraints")) == [
        ("c_p", "FOREIGN KEY", "c"), ("c_u", "FOREIGN KEY", "c"), ("p_pk", "PRIMARY KEY", "p"),
        ("u_pk", "PRIMARY KEY", "u"), ("u_u_fk", "FOREIGN KEY", "u")]  # fmt: skip
    assert sorted(run("SELECT constraint_name, unique_constraint_name FROM main.information_schema.referential_constraints")) == [
        ("c_p", "p_pk"), ("c_u", "u_pk"), ("u_u_fk", "u_pk")]  # fmt: skip
    assert (
        "CONSTRAINT `c_u` FOREIGN KEY (`cid`) REFERENCES `main`.`default`.`u` (`id`)"
        in run("SHOW CREATE TABLE c")[0][0]
    )
    with pytest.raises(ERRORS, match="CONSTRAINT_ALREADY_EXISTS"):
        run("ALTER TABLE c ADD CONSTRAINT p_pk FOREIGN KEY (cid) REFERENCES u")
    with pytest.raises(ERRORS, match="INVALID_PARAMETER_VALUE.*PRIMARY KEY \\(`id`, `k`\\)"):
        run("ALTER TABLE c ADD FOREIGN KEY (pid) REFERENCES p (id)")
    with pytest.raises(ERRORS, match="INVALID_PARAMETER_VALUE.*CASCADE"):
        run("ALTER TABLE p DROP PRIMARY KEY")
    run("ALTER TABLE p DROP PRIMARY KEY CASCADE")
    run("ALTER TABLE c DROP FOREIGN KEY (cid)")
    run("ALTER TABLE u DROP CONSTRAINT IF EXISTS u_u_fk")
    with pytest.raises(ERRORS, match="CONSTRAINT_DOES_NOT_EXIST"):
        run("ALTER TABLE u DROP CONSTRAINT u_u_fk")
    assert run("SELECT constraint_name FROM main.information_schema.table_constraints") == [("u_pk",)]


def test_foreign_keys_in_the_thrift_cross_reference_call(tmp_path):
    """GetCrossReference as the server answers it (the connector's cursor has no method for it: sent by hand)."""
    import pyarrow as pa
    from databricks.sql.thrift_api.TCLIService import ttypes

    with make_backend("server", tmp_path) as backend, backend.warehouse.connect() as connection:
        execute = statement_runner(connection)
        execute("CREATE TABLE u (id INT NOT NULL PRIMARY KEY)")
        execute("CREATE TABLE c (uid INT CONSTRAINT c_u REFERENCES u)")
        execute("CREATE TABLE other (uid INT REFERENCES u)")  # a child the call's filter leaves out
        thrift = connection.session.backend
        request = ttypes.TGetCrossReferenceReq(
            sessionHandle=connection.session.session_id.to_thrift_handle(),
            getDirectResults=ttypes.TSparkGetDirectResults(maxRows=1000, maxBytes=10**7),
            parentTableName="u",
            foreignTableName="c",
        )
        answer = thrift.make_request(thrift._client.GetCrossReference, request).directResults
        batches = b"".join(b.batch for b in answer.resultSet.results.arrowBatches)
        listed = pa.ipc.open_stream(answer.resultSetMetadata.arrowSchema + batches).read_all().to_pylist()
        assert [(r["PKTABLE_NAME"], r["PKCOLUMN_NAME"], r["FKTABLE_NAME"], r["FKCOLUMN_NAME"], r["FK_NAME"], r["PK_NAME"])
                for r in listed] == [("u", "id", "c", "uid", "c_u", "u_pk")]  # fmt: skip


def test_like_escapes_with_a_backslash_by_default(run):
    run("INSERT INTO t VALUES (7, '_x'), (8, '%y')")
    assert run(r"SELECT id FROM t WHERE a LIKE '\_%' ORDER BY id") == [(7,)]
    assert run(r"SELECT id FROM t WHERE a NOT ILIKE '\%%' ORDER BY id") == [(1,), (5,), (7,)]
    assert run("SELECT id FROM t WHERE a LIKE '!_%' ESCAPE '!'") == [(7,)]


def test_a_not_null_column_is_added_only_to_a_table_without_rows(run):
    with pytest.raises(ERRORS, match=r"DELTA_NOT_NULL_CONSTRAINT_VIOLATED.*\bb\b"):
        run("ALTER TABLE t ADD COLUMN b STRING NOT NULL")
    assert [r[0] for r in run("DESCRIBE TABLE t")] == ["id", "a"]
    run("CREATE TABLE empty (id INT)")
    run("ALTER TABLE empty ADD COLUMN b STRING NOT NULL")
    assert run(
        "SELECT is_nullable FROM main.information_schema.columns WHERE table_name = 'empty' AND column_name = 'b'"
    ) == [("NO",)]


def test_an_iceberg_table_holds_rows_and_says_it_is_iceberg(run):
    run("CREATE TABLE ice (id BIGINT, d DATE) USING ICEBERG")
    run("INSERT INTO ice VALUES (1, DATE'2024-01-01')")
    assert run("SELECT count(*) FROM ice") == [(1,)]
    detail = run("DESCRIBE DETAIL ice")[0]
    assert detail[0] == "iceberg"
    assert run("SELECT data_source_format FROM main.information_schema.tables WHERE table_name = 'ice'") == [
        ("ICEBERG",)
    ]
    assert "USING iceberg" in run("SHOW CREATE TABLE ice")[0][0]
    with pytest.raises(ERRORS, match="UNSUPPORTED_STATEMENT.*USING PARQUET"):
        run("CREATE TABLE pq (id INT) USING PARQUET")


@pytest.mark.parametrize("kind", ["local", "server"])
def test_float_parameters_are_doubles_infinity_and_nan_included(kind, tmp_path):
    values = [float("inf"), float("-inf"), 1.5, 1e300]
    with make_backend(kind, tmp_path) as backend, backend.warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT typeof(:a), :a, :b, :c, :d, isnan(:e)", dict(zip("abcde", [*values, float("nan")], strict=True))
        )
        assert tuple(cursor.fetchall()[0]) == ("double", *values, True)


def _spark_quotient(a: str, b: str) -> tuple[str, Decimal]:
    """The model: Spark's type of DECIMAL / DECIMAL and its value rounded half up."""
    (p1, s1), (p2, s2) = ((max(len(d.digits), -d.exponent, 1), max(0, -d.exponent)) for d in (Decimal(a).as_tuple(), Decimal(b).as_tuple()))  # fmt: skip
    scale = max(6, s1 + p2 + 1)
    precision = p1 - s1 + s2 + scale
    if precision > 38:
        scale, precision = max(38 - (precision - scale), min(scale, 6)), 38
    with localcontext() as context:
        context.prec = 80
        value = (Decimal(a) / Decimal(b)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    return f"decimal({precision},{scale})", value


def test_decimal_division_is_an_exact_decimal_as_on_databricks(run):
    rng = random.Random(26)
    cases = [("5.52", "2.4"), ("-0.000001", "2"), ("7.5", "2"), ("1.0", "3"), ("-7.25", "0.3")]
    for _ in range(40):
        p1, p2 = rng.randint(1, 18), rng.randint(1, 18)
        a = Decimal(rng.randint(-(10**p1) + 1, 10**p1 - 1)).scaleb(-rng.randint(1, p1))
        b = Decimal(rng.randint(1, 10**p2 - 1) * rng.choice([-1, 1])).scaleb(-rng.randint(0, p2))
        cases.append((str(a), str(b)))
    for a, b in cases:
        expected = _spark_quotient(a, b)
        got = run(f"SELECT typeof({a} / {b}), {a} / {b}")[0]
        assert (got[0], got[1]) == expected, (a, b)
    run("CREATE TABLE prices (p DECIMAL(10,2), n INT)")
    run("INSERT INTO prices VALUES (10.25, 4)")
    assert run("SELECT typeof(p / n), p / n, p / 100, n / 2 FROM prices") == [
        ("decimal(21,13)", Decimal("2.5625000000000"), Decimal("0.102500"), 2.0)
    ]
    with pytest.raises(ERRORS, match="DIVIDE_BY_ZERO"):
        run("SELECT p / 0 FROM prices")


def test_identity_columns_number_the_rows(run):
    run("CREATE TABLE ids (id BIGINT GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY 5), data STRING)")
    run("INSERT INTO ids (data) VALUES ('a'), ('b')")
    run("INSERT INTO ids (data) SELECT 'c'")
    assert run("SELECT id, data FROM ids ORDER BY id") == [(10, "a"), (15, "b"), (20, "c")]
    with pytest.raises(ERRORS, match="DELTA_IDENTITY_COLUMNS_EXPLICIT_INSERT_NOT_SUPPORTED"):
        run("INSERT INTO ids (id, data) VALUES (1, 'x')")
    assert "GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY 5)" in run("SHOW CREATE TABLE ids")[0][0]
    run("CREATE TABLE byd (id BIGINT GENERATED BY DEFAULT AS IDENTITY, data STRING)")
    run("INSERT INTO byd (id, data) VALUES (100, 'given')")
    run("INSERT INTO byd (data) VALUES ('made')")
    assert run("SELECT id, data FROM byd ORDER BY data") == [(100, "given"), (1, "made")]
    run("CREATE OR REPLACE TABLE ids (id BIGINT GENERATED ALWAYS AS IDENTITY, data STRING)")
    run("INSERT INTO ids (data) VALUES ('again')")
    assert run("SELECT id FROM ids") == [(1,)]
    run("ALTER TABLE ids RENAME TO ids2")
    run("INSERT INTO ids2 (data) VALUES ('renamed')")
    assert run("SELECT id FROM ids2 ORDER BY id") == [(1,), (2,)]
    run("CREATE TABLE ids3 CLONE ids2")  # the clone numbers on from where its source stands
    run("INSERT INTO ids3 (data) VALUES ('cloned')")
    assert run("SELECT id FROM ids3 ORDER BY id") == [(1,), (2,), (3,)]
    with pytest.raises(ERRORS, match="DELTA_IDENTITY_COLUMNS_ALTER_NOT_SUPPORTED"):
        run("ALTER TABLE byd ADD COLUMN n BIGINT GENERATED ALWAYS AS IDENTITY")
    assert [r[0] for r in run("DESCRIBE TABLE byd")] == ["id", "data"]
    with pytest.raises(ERRORS, match="DELTA_IDENTITY_COLUMNS_UNSUPPORTED_DATA_TYPE"):
        run("CREATE TABLE bad (id INT GENERATED ALWAYS AS IDENTITY)")


def test_what_dataframe_libraries_generate(run):
    """VALUES with a table alias in INSERT and CTAS, DESCRIBE without QUERY, numbers cast to TIMESTAMP, and
    expressions over count(*) named as Databricks names them."""
    run("INSERT INTO t VALUES (7, 'p'), (8, 'q') AS v(id, a)")
    run("CREATE TABLE made AS VALUES (1, 'x') AS v(n, s)")
    assert run("SELECT n, s FROM made") == [(1, "x")]
    assert run("DESCRIBE SELECT 1 AS a, 'b' AS b") == [("a", "int", None), ("b", "string", None)]
    stamp = run("SELECT CAST(1700000000 AS TIMESTAMP), CAST(-1.5 AS TIMESTAMP)")[0]
    assert [v.isoformat() for v in stamp] == ["2023-11-14T22:13:20+00:00", "1969-12-31T23:59:58.500000+00:00"]
    named = run("DESCRIBE SELECT count(*) + 1, max(id) / count(*), upper(a) FROM t GROUP BY a")
    assert [r[0] for r in named] == ["(count(1) + 1)", "(max(id) / count(1))", "upper(a)"]
    with pytest.raises(ERRORS, match=r"DELTA_INVALID_CHARACTERS_IN_COLUMN_NAMES.*'count\(1\)'"):
        run("CREATE TABLE counted AS SELECT count(*), a FROM t GROUP BY a")  # as on Databricks: name it
