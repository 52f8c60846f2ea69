"""dbt next to the IO manager (needs the `dbt` extra): a profile that points dbt-databricks at the warehouse the IO
manager writes, row counts for the tables dbt builds, and a dagster-dbt translator that keys models by their table,
so the IO manager reads them downstream."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import DagsterDbtTranslator, DbtCliResource

from .local import LocalSQLWarehouse
from .naming import quote
from .resource import DatabricksResource
from .sql import create_schema
from .warehouse import SQLWarehouse


@contextlib.contextmanager
def dbt_on_warehouse(
    dbt: DbtCliResource, warehouse: SQLWarehouse, *, catalog: str = "main", schema: str = "default", threads: int = 4
) -> Iterator[DbtCliResource]:
    """`dbt` with a profile that targets `warehouse` in `catalog`.`schema` (created if missing), for the block: a
    profiles.yml in a private temporary folder. A LocalSQLWarehouse is served on 127.0.0.1 meanwhile, over HTTPS as
    Databricks is (dbt-databricks probes the host over HTTPS), so dbt works on the same file the IO manager writes."""
    with contextlib.ExitStack() as stack:
        if isinstance(warehouse, LocalSQLWarehouse):
            from .local.server import LocalSQLWarehouseServer

            options = warehouse.model_dump(by_alias=True, exclude={"path"})  # the same warehouse, every setting
            token = f"dapi-{os.urandom(16).hex()}"
            server = stack.enter_context(LocalSQLWarehouseServer(warehouse.path, token, tls=True, **options))
            stack.enter_context(_trusted_by_dbt(server.certificate))
            warehouse = server.resource()
        if not isinstance(warehouse, DatabricksResource):
            raise TypeError(
                f"dbt_on_warehouse takes a DatabricksResource or a LocalSQLWarehouse, not {type(warehouse).__name__}."
            )
        with warehouse.connect() as connection:  # dbt opens its sessions in the target schema
            cursor = connection.cursor()
            exists = f"SELECT 1 FROM {quote(catalog)}.information_schema.schemata WHERE schema_name = :schema"
            try:  # creating needs a privilege a dbt user may lack, so only when missing
                missing = not cursor.execute(exists, {"schema": schema.lower()}).fetchall()
            except Exception:  # noqa: BLE001 - e.g. hive_metastore has no information_schema
                missing = True
            if missing:
                cursor.execute(create_schema(catalog, schema))
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="dbload-dbt-"))  # mode 0700
        target = warehouse.dbt_target(catalog, schema, threads)
        path = os.path.join(folder, "profiles.yml")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:  # it may hold a credential
            yaml.safe_dump({"dbload": {"target": "dbload", "outputs": {"dbload": target}}}, file, sort_keys=False)
        yield DbtCliResource(
            project_dir=dbt.project_dir,
            dbt_executable=dbt.dbt_executable,
            global_config_flags=dbt.global_config_flags,
            state_path=dbt.state_path,
            profiles_dir=folder,
            profile="dbload",
            target="dbload",
        )


@contextlib.contextmanager
def _trusted_by_dbt(certificate: str | None) -> Iterator[None]:
    """For the block, the dbt processes dagster-dbt starts (with this process's environment) trust `certificate`
    besides the usual authorities, for the HTTPS calls dbt-databricks and the Databricks SDK make with requests."""
    import certifi

    if not certificate:
        yield
        return
    bundle = os.path.join(os.path.dirname(certificate), "trusted-by-dbt.pem")
    with open(bundle, "w") as out, open(certifi.where()) as usual, open(certificate) as local:
        out.write(usual.read() + "\n" + local.read())
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = bundle
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = before


def with_row_counts(events: Iterable[Any], context: dg.AssetExecutionContext, warehouse: SQLWarehouse) -> Iterator[Any]:
    """dagster-dbt's events, with `dagster/row_count` on each model, seed or snapshot dbt built as a table: one
    `SELECT count(*)` on a connection to `warehouse` (Delta answers it from file statistics). Views are not counted,
    as that would run their query. dagster-dbt's `fetch_row_counts` loads dbt into this process to do the same."""
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        for event in events:
            if isinstance(event, dg.Output):
                spec = context.assets_def.specs_by_key[context.asset_key_for_output(event.output_name)].metadata
                table = spec.get("dagster/table_name")
                if table and spec.get("dagster-dbt/materialization_type") not in ("view", "ephemeral"):
                    cursor.execute(f"SELECT count(*) AS n FROM {'.'.join(quote(p) for p in table.split('.'))}")
                    event = event.with_metadata({**event.metadata, "dagster/row_count": cursor.fetchone()[0]})
            yield event


class DbloadDbtTranslator(DagsterDbtTranslator):
    """dagster-dbt's translator, with models, seeds and snapshots keyed `[schema, table]`: the key the IO manager
    maps to that table, so a Python asset downstream of a dbt model loads it with `AssetIn`. A node whose dbt
    `meta` sets `dagster: asset_key` keeps that key."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        props = dbt_resource_props
        if props["resource_type"] in ("model", "seed", "snapshot") and "asset_key" not in props.get("meta", {}).get(
            "dagster", {}
        ):
            return dg.AssetKey([props["schema"], props.get("alias") or props["name"]])
        return super().get_asset_key(dbt_resource_props)
