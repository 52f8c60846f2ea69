"""Materializes the shop assets and the dbt models over them, two days of page views and three days of tier history, runs one tick of the SuperAnnotate sensor and the runs it asks for, then
prints each table."""

import contextlib
import io
import os
import re

import dagster as dg

from dagster_dbload.superannotate import LocalSuperAnnotateExport

from .definitions import defs, qa_review, qa_review_sensor, warehouse

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main() -> None:
    # DAGSTER_HOME (scripts/demo sets it) keeps the runs for `dagster dev`; without it they are thrown away
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    tiers = dg.AssetKey(["shop", "customer_tiers"])
    # the shop assets, the dbt models over them (example_project/dbt_models.py) and the Python asset after those
    shop = [k for k in job.asset_layer.executable_asset_keys if k.path[0] in ("shop", "analytics") and k != tiers]
    with contextlib.redirect_stdout(io.StringIO()) as dbt_log:  # dagster-dbt echoes dbt's own log here
        result = job.execute_in_process(run_config=QUIET, instance=instance, asset_selection=shop, raise_on_error=False)
    if not result.success:
        print(dbt_log.getvalue())
        raise SystemExit("The shop run failed: dbt's log is above.")
    summary = re.search(r"Done\. (PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+)", dbt_log.getvalue())
    print(f"Shop assets and the dbt models over them: materialized (dbt build: {summary.group(1) if summary else '?'})")
    specs = {spec.key: spec.metadata for spec in defs.resolve_all_asset_specs()}  # dbt models name theirs there
    tables = [
        e.materialization.metadata["dagster/table_name"].value
        if "dagster/table_name" in e.materialization.metadata
        else specs[e.asset_key]["dagster/table_name"]
        for e in result.get_asset_materialization_events()
    ]
    views = dg.AssetKey(["web", "page_views"])
    for day in ("2024-06-01", "2024-06-02", "2024-06-01"):  # the second run of a day replaces only that day
        run = job.execute_in_process(run_config=QUIET, instance=instance, asset_selection=[views], partition_key=day)
        assert run.success
    tables.append("main.web.page_views")
    for day in ("2024-06-01", "2024-06-02", "2024-06-03"):  # scd2 history: days in order, one at a time
        run = job.execute_in_process(run_config=QUIET, instance=instance, asset_selection=[tiers], partition_key=day)
        assert run.success
    tables.append("main.shop.customer_tiers")

    context = dg.build_sensor_context(instance=instance, resources={"superannotate": defs.resources["superannotate"]})
    tick = qa_review_sensor(context)
    requests = tick.run_requests or []
    skipped = tick.skip_reason.skip_message if tick.skip_reason else ""
    print(f"\nSensor {qa_review_sensor.name}: {len(requests)} run request(s). {skipped}")
    for request in requests:
        run = job.execute_in_process(
            run_config={**request.run_config, **QUIET}, instance=instance, asset_selection=[qa_review.key],
            tags=request.tags,
        )  # fmt: skip
        items = run.asset_materializations_for_node(qa_review.op.name)[0].metadata["superannotate/items"].value
        print(f"  run {request.run_key}: {items} item(s) {'loaded' if run.success else 'FAILED'}")
    settings = {k: getattr(v, "value", v) for k, v in qa_review.metadata_by_key[qa_review.key].items()}
    tables.append(f"{settings['catalog']}.{settings['schema']}.{settings['table']}")
    source = defs.resources["superannotate"]
    if isinstance(source, LocalSuperAnnotateExport):
        wanted = settings["dbload/superannotate"]["statuses"]
        others = {s: n for s, n in sorted(source.status_counts().items()) if s not in wanted}
        if others:
            listed = ", ".join(f"{n} {s}" for s, n in others.items())
            print(f"  skipped by the status filter {wanted}: {sum(others.values())} export item(s) ({listed})")

    where = getattr(warehouse, "path", None) or getattr(warehouse, "server_hostname", "the warehouse")
    print(f"\nMaterialized into {where}\n")
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        for table in tables:
            cursor.execute(f"SELECT * FROM {table} LIMIT 5")
            head = cursor.fetchall_arrow().to_pandas()
            cursor.execute(f"SELECT count(*) AS n FROM {table}")
            print(f"{table}: {cursor.fetchone().n} rows")
            print(head.to_string(index=False, max_colwidth=28), "\n")
    print(
        "Next: ./scripts/dev opens the Dagster UI on these runs (http://127.0.0.1:3000); "
        "`dagster-dbload doctor` checks a real workspace before its first run (README: Real Databricks)."
    )


if __name__ == "__main__":
    main()
