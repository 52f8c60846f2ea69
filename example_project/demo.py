"""Materializes the example project into its local warehouse and prints each table."""

import dagster as dg

from .definitions import defs, warehouse


def main() -> None:
    job = defs.resolve_implicit_global_asset_job_def()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = job.execute_in_process(run_config=quiet, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    print(f"\nMaterialized into {warehouse.path}\n")
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        for event in result.get_asset_materialization_events():
            table = event.materialization.metadata["dagster/table_name"].value
            cursor.execute(f"SELECT * FROM {table} LIMIT 5")
            head = cursor.fetchall_arrow().to_pandas()
            cursor.execute(f"SELECT count(*) AS n FROM {table}")
            print(f"{table}: {cursor.fetchone().n} rows")
            print(head.to_string(index=False), "\n")


if __name__ == "__main__":
    main()
