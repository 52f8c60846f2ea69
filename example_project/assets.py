"""Shop assets: customers and orders generated with pyarrow, and a daily summary computed from both."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

SEED = 7


@dg.asset(
    key_prefix=["shop"],
    group_name="shop",
    kinds={"databricks"},
    description="Customers of the shop.",
    metadata={
        "primary_key": ["customer_id"],
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(
                    "customer_id",
                    "bigint",
                    description="Customer key",
                    constraints=dg.TableColumnConstraints(nullable=False),
                ),
                dg.TableColumn(
                    "name", "string", description="Display name", constraints=dg.TableColumnConstraints(nullable=False)
                ),
                dg.TableColumn("country", "string", description="ISO country code"),
                dg.TableColumn("signed_up", "timestamp", description="When the customer signed up (UTC)"),
            ]
        ),
    },
)
def customers() -> pa.Table:
    rng = np.random.default_rng(SEED)
    n = 500
    return pa.table(
        {
            "customer_id": pa.array(np.arange(1, n + 1), pa.int64()),
            "name": [f"Customer {i}" for i in range(1, n + 1)],
            "country": pa.array(rng.choice(["DE", "FR", "US", "NL", "JP"], n)),
            "signed_up": pa.array(
                [
                    dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=int(h))
                    for h in rng.integers(0, 8000, n)
                ],
                pa.timestamp("us", "UTC"),
            ),
        }
    )


@dg.asset(
    key_prefix=["shop"],
    group_name="shop",
    kinds={"databricks"},
    description="Orders placed in the shop, one row per order.",
    metadata={
        "write_mode": "merge",  # only changed orders are rewritten, so the change feed holds only real changes
        "primary_key": ["order_id"],
        "change_data_feed": True,  # revenue_changes reads only the orders changed since its last run
        "table_stats": True,
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("order_id", "bigint", description="Order key"),
                dg.TableColumn("customer_id", "bigint", description="Customer who placed the order"),
                dg.TableColumn("amount", "double", description="Order total in EUR"),
                dg.TableColumn("status", "string", description="paid, shipped or refunded"),
                dg.TableColumn("placed_at", "timestamp", description="When the order was placed (UTC)"),
            ]
        ),
    },
)
def orders() -> pd.DataFrame:
    rng = np.random.default_rng(SEED + 1)
    n = 20_000
    placed = pd.Timestamp("2024-06-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 30 * 24 * 3600, n), unit="s")
    return pd.DataFrame(
        {
            "order_id": np.arange(1, n + 1),
            "customer_id": rng.integers(1, 501, n),
            "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
            "status": rng.choice(["paid", "shipped", "refunded"], n, p=[0.3, 0.65, 0.05]),
            "placed_at": placed,
        }
    )


@dg.asset(
    key_prefix=["shop"],
    group_name="shop",
    kinds={"databricks"},
    description="How the orders changed since the last run move revenue per day: it reads only the changed orders "
    "(the change data feed of shop/orders) and appends one row per day they touch. Summed over runs, a day's "
    "revenue is its orders' revenue.",
    metadata={
        "write_mode": "append",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("day", "date", description="Day the changed orders were placed (UTC)"),
                dg.TableColumn("orders", "bigint", description="Change in orders not refunded"),
                dg.TableColumn("revenue", "double", description="Change in their revenue in EUR"),
                dg.TableColumn("version", "bigint", description="Newest version of shop/orders read"),
            ]
        ),
    },
    ins={"orders": dg.AssetIn(key_prefix=["shop"], metadata={"changes_since": "last_read", "changes_preimages": True})},
)
def revenue_changes(orders: pl.DataFrame) -> pl.DataFrame:
    # an insert or an update's new image adds, a delete or an update's old image takes away
    sign = pl.when(pl.col("_change_type").is_in(["insert", "update_postimage"])).then(1).otherwise(-1)
    return (
        orders.filter(pl.col("status") != "refunded")
        .group_by(pl.col("placed_at").dt.date().alias("day"))
        .agg(
            sign.sum().cast(pl.Int64).alias("orders"),
            (pl.col("amount") * sign).sum().round(2).alias("revenue"),
            pl.col("_commit_version").max().cast(pl.Int64).alias("version"),
        )
        .sort("day")
    )


@dg.asset(
    key_prefix=["shop"],
    group_name="shop",
    kinds={"databricks"},
    description="Revenue and order counts per day and country.",
    metadata={
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("day", "date", description="Day the orders were placed (UTC)"),
                dg.TableColumn("country", "string", description="ISO country code of the customer"),
                dg.TableColumn("orders", "bigint", description="Orders not refunded"),
                dg.TableColumn("revenue", "double", description="Sum of their amounts in EUR"),
            ]
        )
    },
    ins={
        "orders": dg.AssetIn(key_prefix=["shop"]),
        "customers": dg.AssetIn(key_prefix=["shop"], metadata={"columns": ["customer_id", "country"]}),
    },
)
def daily_summary(orders: pl.DataFrame, customers: pl.DataFrame) -> pl.LazyFrame:
    return (
        orders.lazy()
        .filter(pl.col("status") != "refunded")
        .join(customers.lazy(), on="customer_id")
        .group_by(pl.col("placed_at").dt.date().alias("day"), "country")
        .agg(pl.len().alias("orders"), pl.col("amount").sum().round(2).alias("revenue"))
        .sort("day", "country")
    )


@dg.asset(
    key_prefix=["web"],
    group_name="web",
    description="Page views per day. `ts` is epoch seconds; the partition is a SQL expression over it.",
    partitions_def=dg.DailyPartitionsDefinition(start_date="2024-06-01", end_date="2024-07-01"),
    metadata={
        "partition_expr": "CAST(from_unixtime(ts) AS DATE)",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("ts", "bigint", description="When the page was viewed, epoch seconds (UTC)"),
                dg.TableColumn("page", "string", description="Path of the page"),
                dg.TableColumn("customer_id", "bigint", description="Customer key"),
            ]
        ),
    },
    kinds={"databricks"},
)
def page_views(context: dg.AssetExecutionContext) -> pa.Table:
    start = int(context.partition_time_window.start.timestamp())
    rng = np.random.default_rng([SEED, start])
    n = 1_000
    return pa.table(
        {
            "ts": pa.array(np.sort(start + rng.integers(0, 24 * 3600, n)), pa.int64()),
            "page": pa.array(rng.choice(["/", "/shop", "/cart", "/checkout"], n)),
            "customer_id": pa.array(rng.integers(1, 501, n), pa.int64()),
        }
    )


@dg.asset(
    key_prefix=["shop"],
    group_name="shop",
    kinds={"databricks"},
    description="Each customer's loyalty tier as of each day, kept as history: a tier change closes the old "
    "version (_valid_to) and opens a new one from the partition's day (_valid_from).",
    partitions_def=dg.DailyPartitionsDefinition(start_date="2024-06-01", end_date="2024-07-01"),
    metadata={
        "write_mode": "scd2",
        "primary_key": ["customer_id"],
        "table_stats": True,  # dagster/row_count (current versions) and dbload/history_rows after each load
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("customer_id", "bigint", description="Customer key"),
                dg.TableColumn("tier", "string", description="bronze, silver or gold"),
            ]
        ),
    },
)
def customer_tiers(context: dg.AssetExecutionContext) -> pa.Table:
    day = context.partition_time_window.start.toordinal() - dt.date(2024, 6, 1).toordinal()
    ids = np.arange(1, 501)
    # a customer moves up a tier every 10 days, starting on a day of their own
    level = np.minimum((day + ids % 10) // 10, 2)
    return pa.table(
        {"customer_id": pa.array(ids, pa.int64()), "tier": pa.array(np.array(["bronze", "silver", "gold"])[level])}
    )
