"""The local warehouse's change data feed, checked against a model of the table: seeded random writes of every
kind the engine runs, then `table_changes()` must hold exactly each version's changed rows, under the versions
DESCRIBE HISTORY lists. Embedded and through the wire server with the real connector."""

import random

import pytest
from backends import backend as make_backend
from databricks.sql.exc import ServerOperationError

SEEDS = [1, 2, 3]


@pytest.fixture(params=["local", "server"])
def target(request, tmp_path):
    with make_backend(request.param, tmp_path) as value:
        yield value


def _values(rows: dict[int, tuple[str, int]]) -> str:
    return ", ".join(f"({i}, '{v}', {n})" for i, (v, n) in sorted(rows.items()))


def _random_rows(rng: random.Random, ids: list[int]) -> dict[int, tuple[str, int]]:
    return {i: (rng.choice("abcdef") * rng.randint(1, 3), rng.randint(0, 99)) for i in ids}


def _step(rng: random.Random, table: dict[int, tuple[str, int]], next_id: int) -> tuple[str, str, list, int]:
    """One random write: (statement, operation in DESCRIBE HISTORY, expected changes, next unused id)."""
    kind = rng.choice(["insert", "update", "delete", "merge", "overwrite", "replace_where", "truncate", "merge"])
    existing = sorted(table)
    some = rng.sample(existing, min(len(existing), rng.randint(0, 6)))
    if kind == "insert" or not existing:
        new = _random_rows(rng, list(range(next_id, next_id + rng.randint(1, 8))))
        changes = [(i, v, n, "insert") for i, (v, n) in new.items()]
        table.update(new)
        return f"INSERT INTO t VALUES {_values(new)}", "WRITE", changes, next_id + len(new)
    if kind == "update":
        ids = ", ".join(map(str, some)) or "NULL"
        changes = []
        for i in some:
            v, n = table[i]
            table[i] = (v + "!", n + 1)
            changes += [(i, v, n, "update_preimage"), (i, v + "!", n + 1, "update_postimage")]
        return f"UPDATE t SET v = v || '!', n = n + 1 WHERE id IN ({ids})", "UPDATE", changes, next_id
    if kind == "delete":
        limit = rng.randint(0, 99)
        gone = [i for i in existing if table[i][1] < limit]
        changes = [(i, *table.pop(i), "delete") for i in gone]
        return f"DELETE FROM t WHERE n < {limit}", "DELETE", changes, next_id
    if kind == "overwrite":
        new = _random_rows(rng, list(range(next_id, next_id + rng.randint(0, 5))))
        changes = [(i, *table[i], "delete") for i in existing] + [(i, v, n, "insert") for i, (v, n) in new.items()]
        table.clear()
        table.update(new)
        values = _values(new) or "(NULL, NULL, NULL)"
        where = "" if new else " WHERE false"
        return (
            f"INSERT OVERWRITE t SELECT * FROM VALUES {values} AS s(id, v, n){where}",
            "WRITE",
            changes,
            next_id + len(new),
        )
    if kind == "replace_where":
        low = rng.choice(existing)
        gone = [i for i in existing if i >= low]
        new = _random_rows(rng, [i for i in range(low, low + 4)])
        changes = [(i, *table.pop(i), "delete") for i in gone] + [(i, v, n, "insert") for i, (v, n) in new.items()]
        table.update(new)
        statement = f"INSERT INTO t REPLACE WHERE id >= {low} VALUES {_values(new)}"
        return statement, "WRITE", changes, max(next_id, low + 4)
    if kind == "truncate":
        changes = [(i, *table.pop(i), "delete") for i in existing]
        return "TRUNCATE TABLE t", "TRUNCATE", changes, next_id
    # merge: existing ids are updated or deleted, new ones inserted; some unmatched table rows are deleted
    source = _random_rows(rng, some + list(range(next_id, next_id + rng.randint(0, 4))))
    by_source = rng.random() < 0.5
    changes = []
    for i, (v, n) in source.items():
        if i not in table:
            changes.append((i, v, n, "insert"))
            table[i] = (v, n)
        elif n % 3 == 0:
            changes.append((i, *table.pop(i), "delete"))
        else:
            changes += [(i, *table[i], "update_preimage"), (i, v, n, "update_postimage")]
            table[i] = (v, n)
    if by_source:
        for i in [i for i in existing if i not in source and table[i][1] > 80]:
            changes.append((i, *table.pop(i), "delete"))
    statement = (
        f"MERGE INTO t USING (SELECT * FROM VALUES {_values(source) or '(NULL, NULL, NULL)'} AS s(id, v, n)) AS s "
        "ON t.id = s.id WHEN MATCHED AND s.n % 3 = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET * "
        "WHEN NOT MATCHED THEN INSERT *" + (" WHEN NOT MATCHED BY SOURCE AND t.n > 80 THEN DELETE" if by_source else "")
    )
    return statement, "MERGE", changes, next_id + len(source)


@pytest.mark.parametrize("seed", SEEDS)
def test_table_changes_hold_each_versions_rows_as_the_model_expects(seed, target):
    rng = random.Random(seed)
    table: dict[int, tuple[str, int]] = {}
    expected: dict[int, tuple[str, list]] = {}
    with target.warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute("CREATE TABLE t (id INT, v STRING, n INT) TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
        next_id = 0
        for version in range(1, 26):
            statement, operation, changes, next_id = _step(rng, table, next_id)
            cursor.execute(statement)
            expected[version] = (operation, changes)
        cursor.execute("DESCRIBE HISTORY t")
        history = {row.version: row.operation for row in cursor.fetchall()}
        cursor.execute("SELECT id, v, n, _change_type, _commit_version FROM table_changes('t', 1)")
        got = cursor.fetchall()
        cursor.execute("SELECT id, v, n FROM t")
        rows = {r.id: (r.v, r.n) for r in cursor.fetchall()}
    assert rows == table
    assert history == {0: "CREATE TABLE", **{v: op for v, (op, _) in expected.items()}}
    for v, (_, changes) in expected.items():
        assert sorted((r.id, r.v, r.n, r._change_type) for r in got if r._commit_version == v) == sorted(changes), v


def test_table_changes_read_a_range_and_refuse_what_the_feed_does_not_hold(target):
    with target.warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute("CREATE TABLE t (id INT)")
        cursor.execute("INSERT INTO t VALUES (1)")
        cursor.execute("ALTER TABLE t SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
        cursor.execute("INSERT INTO t VALUES (2)")
        cursor.execute("INSERT INTO t VALUES (3)")
        cursor.execute("SELECT id, _commit_version FROM table_changes('main.default.t', 2, 3)")
        assert [tuple(r) for r in cursor.fetchall()] == [(2, 3)]
        with pytest.raises(ServerOperationError, match=r"\[DELTA_MISSING_CHANGE_DATA\].*recorded for version \[1\]"):
            cursor.execute("SELECT * FROM table_changes('t', 1)")
        with pytest.raises(
            ServerOperationError, match=r"\[DELTA_INVALID_CDC_RANGE\].*latest version of the table\(4\)"
        ):
            cursor.execute("SELECT * FROM table_changes('t', 5)")
        cursor.execute("DROP TABLE t")
        cursor.execute("CREATE TABLE t (id INT) TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
        cursor.execute("SELECT count(*) AS n FROM table_changes('t', 0)")
        assert cursor.fetchone().n == 0  # a dropped table's changes are gone with it


MODES = {
    "replace": {},
    "append": {"write_mode": "append"},
    "merge": {"write_mode": "merge", "primary_key": ["id"]},
    "insert_only": {"write_mode": "insert_only", "primary_key": ["id"]},
    "scd2": {"write_mode": "scd2", "primary_key": ["id"]},
}


def _expected(mode: str) -> dict[str, set]:
    """The second load's changes (30 rows 'a' of ids 0-29, then 10 rows 'b' of ids 25-34), per change type."""
    old, new = {(i, "a") for i in range(30)}, {(i, "b") for i in range(25, 35)}
    if mode == "replace":
        return {"delete": old, "insert": new}
    if mode == "append":
        return {"insert": new}
    if mode == "insert_only":
        return {"insert": {(i, "b") for i in range(30, 35)}}
    if mode == "merge":
        return {"update_preimage": {(i, "a") for i in range(25, 30)}, "update_postimage": {(i, "b") for i in range(25, 30)},
                "insert": {(i, "b") for i in range(30, 35)}}  # fmt: skip
    # scd2: every current 'a' version is closed (25-29 changed, 0-24 missing), 'b' versions of 25-34 inserted
    return {"update_preimage": old, "update_postimage": old, "insert": new}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_write_mode_of_the_io_manager_records_its_changes_under_its_version(mode, target):
    import dagster as dg
    import pyarrow as pa

    data = {"t": pa.table({"id": pa.array(range(30), pa.int64()), "v": ["a"] * 30})}

    @dg.asset(name=f"cdf_{mode}", metadata={**MODES[mode], "change_data_feed": True})
    def asset() -> pa.Table:
        return data["t"]

    resources = {"io_manager": target.io_manager()}
    assert dg.materialize([asset], resources=resources).success
    data["t"] = pa.table({"id": pa.array(range(25, 35), pa.int64()), "v": ["b"] * 10})
    assert dg.materialize([asset], resources=resources).success
    (latest,) = target.query(f"DESCRIBE HISTORY cdf_{mode} LIMIT 1")
    rows = target.query(f"SELECT id, v, _change_type, _commit_version FROM table_changes('cdf_{mode}', 0)")
    assert {r["_commit_version"] for r in rows} == {latest["version"] - 1, latest["version"]}  # the two loads
    got: dict[str, set] = {}
    for r in rows:
        if r["_commit_version"] == latest["version"]:
            got.setdefault(r["_change_type"], set()).add((r["id"], r["v"]))
    assert got == _expected(mode)
    assert latest["operation"] == {"replace": "WRITE", "append": "COPY INTO"}.get(mode, "MERGE")
