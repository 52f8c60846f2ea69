"""`dagster-dbload doctor`: checks a configuration before the first run (sign-in, schemas, staging round trip,
SuperAnnotate) and prints ok or the fix for each, in a table; exit code 1 when one fails."""

from __future__ import annotations

import functools
import importlib
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pyarrow as pa

from . import sql
from .io_manager import DatabricksIOManager
from .loader import Session
from .local.warehouse import LocalSQLWarehouse
from .naming import TableRef
from .resource import DatabricksResource
from .staging import volume_of
from .superannotate.sources import LocalSuperAnnotateExport, SuperAnnotateResource, SuperAnnotateSource


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Target:
    """What to check: an IO manager, the schemas its assets land in, and SuperAnnotate sources with statuses."""

    io_manager: DatabricksIOManager
    schemas: list[TableRef]
    superannotate: list[tuple[SuperAnnotateSource, list[str]]]


def from_environment() -> Target:
    """The example project's environment variables: DATABRICKS_* (else the embedded warehouse),
    DBLOAD_STAGING_URL, DBLOAD_SCHEMA, SA_TOKEN / SA_PROJECT (or DBLOAD_SA_EXPORT) and SA_STATUSES."""
    env = os.environ
    if env.get("DATABRICKS_SERVER_HOSTNAME") or env.get("DATABRICKS_HTTP_PATH"):
        oauth = bool(env.get("DATABRICKS_CLIENT_ID"))
        warehouse: Any = DatabricksResource(
            server_hostname=env.get("DATABRICKS_SERVER_HOSTNAME", ""),
            http_path=env.get("DATABRICKS_HTTP_PATH", ""),
            access_token=None if oauth else env.get("DATABRICKS_TOKEN"),
            client_id=env.get("DATABRICKS_CLIENT_ID"),
            client_secret=env.get("DATABRICKS_CLIENT_SECRET"),
            retry_duration_seconds=float(env.get("DBLOAD_DOCTOR_TIMEOUT", "30")),
        )
    else:
        warehouse = LocalSQLWarehouse(path=env.get("DBLOAD_WAREHOUSE", ".dbload/warehouse.duckdb"))
    io_manager = DatabricksIOManager(warehouse=warehouse, staging_url=env.get("DBLOAD_STAGING_URL") or None)
    schema = env.get("DBLOAD_SCHEMA", "default")
    statuses = [s.strip() for s in env.get("SA_STATUSES", "Completed").split(",") if s.strip()]
    sources: list[tuple[SuperAnnotateSource, list[str]]] = []
    if env.get("SA_TOKEN"):
        sources.append((SuperAnnotateResource(token=env["SA_TOKEN"], project=env.get("SA_PROJECT", "")), statuses))
    elif env.get("DBLOAD_SA_EXPORT"):
        sources.append(
            (LocalSuperAnnotateExport(path=env["DBLOAD_SA_EXPORT"], project=env.get("SA_PROJECT", "")), statuses)
        )
    return Target(io_manager, [TableRef(io_manager.catalog, schema, "x")], sources)


def from_module(name: str) -> Target:
    """A code location's Definitions (`defs` in module `name`): its DatabricksIOManager, the schemas of the
    assets stored through it, and its SuperAnnotate resource with the statuses its assets load."""
    module = importlib.import_module(name)
    defs = getattr(module, "defs", None) or next(
        (v for v in vars(module).values() if isinstance(v, dg.Definitions)), None
    )
    if not isinstance(defs, dg.Definitions):
        raise SystemExit(f"{name} has no dagster Definitions (named defs) to check.")
    resources = dict(defs.resources or {})
    io_keys = [k for k, v in resources.items() if isinstance(v, DatabricksIOManager)]
    if not io_keys:
        raise SystemExit(f"{name}'s Definitions have no DatabricksIOManager resource to check.")
    io_manager = resources[io_keys[0]]
    schemas: dict[tuple[str, str], TableRef] = {}
    statuses: list[str] = []
    for asset in defs.assets or []:
        if not isinstance(asset, dg.AssetsDefinition):
            continue
        for key in asset.keys:
            if asset.get_io_manager_key_for_asset_key(key) not in io_keys:
                continue
            metadata = {k: getattr(v, "value", v) for k, v in (asset.metadata_by_key.get(key) or {}).items()}
            ref = io_manager.settings_for(key.path, metadata).ref
            schemas.setdefault((ref.catalog, ref.schema), ref)
            settings = metadata.get("dbload/superannotate")
            if isinstance(settings, dict):
                statuses += [s for s in settings.get("statuses", []) if s not in statuses]
    sources = [(v, statuses or ["Completed"]) for v in resources.values() if isinstance(v, SuperAnnotateSource)]
    return Target(io_manager, list(schemas.values()), sources)


def run(target: Target) -> list[Check]:
    checks: list[Check] = []
    warehouse = target.io_manager.warehouse

    def check(name: str, fn: Callable[[], str], fix: Callable[[str], str]) -> bool:
        try:
            checks.append(Check(name, True, fn()))
            return True
        except Exception as e:  # noqa: BLE001 - every failure becomes a line with its fix
            message = sql.redact_secrets(" ".join(str(e).split()), *_secrets(warehouse))
            checks.append(Check(name, False, fix(message)))
            return False

    def signed_in() -> str:
        with warehouse.connect() as connection:
            cursor = connection.cursor()
            cursor.execute("SELECT current_user() AS user, current_catalog() AS catalog")
            user, catalog = cursor.fetchone()
        return f"signed in as {user}; the session starts in catalog {catalog}"

    if not check("sign-in", signed_in, _connection_fix):
        return checks
    for ref in target.schemas:
        check(f"schema {ref.catalog}.{ref.schema}", functools.partial(_schema_round_trip, warehouse, ref), _schema_fix)
    url = target.io_manager.resolved_staging_url()
    check(f"staging {url}", lambda: _staging_round_trip(target.io_manager, url), lambda m: _staging_fix(url, m))
    for source, statuses in target.superannotate:
        check(f"SuperAnnotate {source.project_name}", functools.partial(_superannotate, source, statuses), _sa_fix)
    return checks


def _secrets(warehouse: Any) -> list[str]:
    return [str(getattr(warehouse, k, "") or "") for k in ("access_token", "client_secret")]


def _schema_round_trip(warehouse: Any, ref: TableRef) -> str:
    probe = TableRef(ref.catalog, ref.schema, f"__dbload_doctor_{uuid.uuid4().hex[:8]}")
    with warehouse.connect() as connection:
        session = Session(connection.cursor())
        session.run(sql.create_schema(probe.catalog, probe.schema))
        session.run(f"CREATE TABLE {probe.sql} (id BIGINT)")
        try:
            session.run(f"INSERT INTO {probe.sql} VALUES (1)")
            session.run(f"UPDATE {probe.sql} SET id = 2")
        finally:
            session.run(sql.drop_table(probe))
    return "exists or was created; a table was created, written and dropped there"


def _staging_round_trip(io_manager: DatabricksIOManager, url: str) -> str:
    prefix = f"__dbload_doctor/{uuid.uuid4().hex[:12]}"
    with io_manager.warehouse.connect() as connection:
        io_manager.ensure_volume(Session(connection.cursor()), url, io_manager.create_volume)
    stager = io_manager.stager(url)
    try:
        table = pa.table({"doctor": pa.array([1], pa.int64())})
        stager.write(pa.RecordBatchReader.from_batches(table.schema, table.to_batches()), prefix)
        with io_manager.warehouse.connect() as connection:
            cursor = connection.cursor()
            cursor.execute(f"SELECT count(*) AS n FROM {sql.read_files(stager.url(prefix))}")
            (count,) = cursor.fetchone()
        if count != 1:
            raise RuntimeError(f"the warehouse read {count} rows of the 1 row staged")
    finally:
        stager.delete(prefix)
        stager.close()
    return "a parquet file was written, read back by the warehouse with read_files, and removed"


def _superannotate(source: SuperAnnotateSource, statuses: Sequence[str]) -> str:
    items = source.list_items(statuses, page_size=1)
    first = next(iter(items), None)
    return f"project {source.project_name} answers; statuses {list(statuses)} are valid" + (
        "" if first is not None else " (no item has them yet)"
    )


def _connection_fix(message: str) -> str:
    return f"{message} -- fix the setting it names (DATABRICKS_SERVER_HOSTNAME, DATABRICKS_HTTP_PATH, DATABRICKS_TOKEN or DATABRICKS_CLIENT_ID/SECRET)"


def _schema_fix(message: str) -> str:
    return (f"{message} -- grant the user USE CATALOG, and CREATE SCHEMA on the catalog or USE SCHEMA, CREATE TABLE "
            "and MODIFY on the schema")  # fmt: skip


def _staging_fix(url: str, message: str) -> str:
    where = (
        "create the volume (or set create_volume=True) and grant READ VOLUME and WRITE VOLUME on it"
        if volume_of(url)
        else "give the warehouse READ FILES on an external location covering this prefix, and this process write access"
    )
    return f"{message} -- {where}"


def _sa_fix(message: str) -> str:
    return f"{message} -- check SA_TOKEN (an SDK token of the team), SA_PROJECT and the statuses"


def table(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check'.ljust(width)}  result  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{c.name.ljust(width)}  {'ok' if c.ok else 'FAIL':6}  {c.detail}" for c in checks]
    return "\n".join(lines)
