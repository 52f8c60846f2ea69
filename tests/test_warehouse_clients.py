"""Third-party clients run unmodified against LocalSQLWarehouseServer through the `databricks_warehouse`
fixture (the pytest11 plugin): databricks-sqlalchemy's inspector and reflection, pandas, dlt's `databricks`
destination with Volume staging."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa


@pytest.fixture
def engine(databricks_warehouse):
    engine = sa.create_engine(
        databricks_warehouse.sqlalchemy_url, connect_args=databricks_warehouse.sqlalchemy_connect_args
    )
    yield engine
    engine.dispose()


def test_the_fixture_gives_a_connector_connection_and_a_dagster_resource(databricks_warehouse):
    with databricks_warehouse.connect() as connection:
        assert connection.cursor().execute("SELECT current_catalog() AS c").fetchone().c == "main"
    with databricks_warehouse.resource().connect() as connection:
        assert connection.cursor().execute("SELECT 41 + 1 AS x").fetchone().x == 42


def test_sqlalchemy_inspector_and_reflection(engine):
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE orders (id BIGINT NOT NULL COMMENT 'order id', amount DECIMAL(10,2), "
                          "note STRING, CONSTRAINT orders_pk PRIMARY KEY (id))"))  # fmt: skip
        c.execute(sa.text("CREATE VIEW big_orders AS SELECT id FROM orders WHERE amount > 100"))
    inspector = sa.inspect(engine)
    assert inspector.get_table_names() == ["orders"]
    assert inspector.get_view_names() == ["big_orders"]
    columns = {c["name"]: c for c in inspector.get_columns("orders")}
    assert list(columns) == ["id", "amount", "note"]
    assert isinstance(columns["amount"]["type"], sa.Numeric) and columns["amount"]["type"].scale == 2
    assert columns["id"]["nullable"] is False and columns["id"]["comment"] == "order id"
    assert inspector.get_pk_constraint("orders") == {"constrained_columns": ["id"], "name": "orders_pk"}
    assert inspector.get_foreign_keys("orders") == []
    assert inspector.has_table("orders") and not inspector.has_table("missing")
    assert sa.Table("orders", sa.MetaData(), autoload_with=engine).primary_key.columns.keys() == ["id"]


def test_sqlalchemy_core_and_pandas_round_trips(engine):
    metadata = sa.MetaData()
    people = sa.Table(
        "people", metadata, sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("name", sa.String)
    )
    metadata.create_all(engine)
    with engine.begin() as c:
        c.execute(people.insert(), [{"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}])
        assert c.execute(sa.select(people.c.name).order_by(people.c.id)).scalars().all() == ["ada", "grace"]
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [1.5, 2.5, None]})
    frame.to_sql("frame", engine, if_exists="replace", index=False)
    frame.to_sql("frame", engine, if_exists="append", index=False)
    back = pd.read_sql("SELECT a, b, c FROM frame ORDER BY a, b", engine)
    assert back["a"].tolist() == [1, 1, 2, 2, 3, 3] and back["b"].tolist()[:2] == ["x", "x"]
    frame.to_sql("frame", engine, if_exists="replace", index=False)
    assert len(pd.read_sql_table("frame", engine)) == 3


def test_dlt_databricks_destination_with_volume_staging(databricks_warehouse, tmp_path):
    import dlt  # a test dependency: a broken install fails here instead of skipping
    from dlt.destinations import databricks

    with databricks_warehouse.connect() as connection:
        connection.cursor().execute("CREATE VOLUME main.default.dlt_staging")
    destination = databricks(
        credentials=databricks_warehouse.dlt_credentials, staging_volume_name="main.default.dlt_staging"
    )

    def pipeline():
        return dlt.pipeline("shop", destination=destination, dataset_name="shop", pipelines_dir=str(tmp_path / "p"))

    def rows(sql: str) -> list[tuple]:
        with pipeline().sql_client() as client:
            return [tuple(r) for r in client.execute_sql(sql)]

    orders = [{"id": 1, "name": "a", "tags": ["x", "y"]}, {"id": 2, "name": "b", "tags": []}]
    pipeline().run(orders, table_name="orders", write_disposition="append").raise_on_failed_jobs()
    pipeline().run(orders[:1], table_name="orders", write_disposition="append").raise_on_failed_jobs()
    assert rows("SELECT id FROM orders ORDER BY id") == [(1,), (1,), (2,)]
    assert rows("SELECT value FROM orders__tags ORDER BY value") == [("x",), ("x",), ("y",), ("y",)]

    pipeline().run(orders, table_name="orders", write_disposition="replace").raise_on_failed_jobs()
    assert rows("SELECT id FROM orders ORDER BY id") == [(1,), (2,)]

    # merge into a table merged from its first load: turning `orders` (with rows) into a merged table would add a
    # NOT NULL root key to its nested table, which Databricks refuses, as dlt's own tests expect
    merged = {"disposition": "merge", "strategy": "delete-insert"}
    pipeline().run(orders, table_name="merged", write_disposition=merged, primary_key="id").raise_on_failed_jobs()
    for strategy in ("delete-insert", "upsert"):
        changed = [{"id": 1, "name": f"a-{strategy}", "tags": ["z"]}, {"id": 3, "name": "c", "extra": 5}]
        disposition = {"disposition": "merge", "strategy": strategy}
        pipeline().run(
            changed, table_name="merged", write_disposition=disposition, primary_key="id"
        ).raise_on_failed_jobs()
        assert rows("SELECT id, name, extra FROM merged ORDER BY id") == [
            (1, f"a-{strategy}", None), (2, "b", None), (3, "c", 5)
        ]  # fmt: skip
        assert rows(
            "SELECT count(*) FROM merged__tags t JOIN merged o ON t._dlt_parent_id = o._dlt_id WHERE o.id = 1"
        ) == [(1,)]

    # state restore: a fresh pipeline folder gets its state back from the destination
    fresh = dlt.pipeline("shop", destination=destination, dataset_name="shop", pipelines_dir=str(tmp_path / "fresh"))
    fresh.sync_destination()
    assert "orders" in fresh.default_schema.tables
