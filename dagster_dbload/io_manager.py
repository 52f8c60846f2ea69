"""DatabricksIOManager: Dagster glue around staging (staging.py), SQL (sql.py) and the load (loader.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from dagster import (
    Config,
    ConfigurableIOManager,
    DagsterInvariantViolationError,
    Failure,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
    TimeWindowPartitionsDefinition,
)
from pydantic import Field

from . import arrow, loader, partitions, sql
from .keys import KeyCollector
from .naming import TableRef, column_problem, quote
from .progress import Progress
from .settings import flag, names
from .sql import ColumnSpec
from .staging import Stager, attempt_prefix, prefix_for
from .types import arrow_to_databricks
from .warehouse import SQLWarehouse


class DatabricksLoadError(RuntimeError):
    """The load statement failed; the staged files were kept."""


class DatabricksOutputError(Failure, ValueError):
    """An output or its settings cannot be stored; nothing was written. The run page shows the fix first."""

    def __init__(self, description: str, **metadata: Any):
        super().__init__(description=description, metadata=metadata, allow_retries=False)


class StagingCredentials(Config):
    """Credentials for the staging filesystem, as fsspec names them; pass each as an `EnvVar` so that no secret
    is stored in Dagster's run and job snapshots (literal `staging_storage_options` values are)."""

    key: str | None = Field(default=None, description="S3 access key id (s3fs `key`).")
    secret: str | None = Field(default=None, description="S3 secret access key (s3fs `secret`).")
    token: str | None = Field(default=None, description="S3 session token (s3fs `token`).")
    account_name: str | None = Field(default=None, description="Azure storage account name (adlfs).")
    account_key: str | None = Field(default=None, description="Azure storage account key (adlfs).")
    sas_token: str | None = Field(default=None, description="Azure SAS token (adlfs).")
    connection_string: str | None = Field(default=None, description="Azure connection string (adlfs).")
    tenant_id: str | None = Field(default=None, description="Azure service principal tenant (adlfs).")
    client_id: str | None = Field(default=None, description="Azure service principal client id (adlfs).")
    client_secret: str | None = Field(default=None, description="Azure service principal secret (adlfs).")

    def options(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class DatabricksIOManager(ConfigurableIOManager):
    """Stores asset outputs as Delta tables: parquet staged through fsspec, then one load statement.

    Per-asset definition metadata (output metadata overrides it for one run): `write_mode`, `table`,
    `schema`, `catalog`, `partition_by`, `cluster_by`, `schema_evolution` ("add_columns" | "strict"),
    `primary_key`, `dedupe_by`, `version_by`, `delete_missing`, `hard_delete`, `scd2_*`, `create_table` (False: a
    missing table is an error), `staging_url` and `create_volume`, and `dagster/column_schema` descriptions,
    which become column comments (the README lists them all).
    """

    warehouse: SQLWarehouse = Field(description="LocalSQLWarehouse or DatabricksResource.")
    catalog: str = Field(default="main", description="Catalog for tables without `catalog` metadata.")
    schema_: str | None = Field(
        default=None, alias="schema", description="Schema for assets without `schema` metadata (else key prefix)."
    )
    staging_url: str | None = Field(
        default=None,
        description="Where parquet is staged: s3://, abfss://, az://, /Volumes/..., a local folder or memory://. "
        "Defaults to a folder beside a LocalSQLWarehouse's file.",
    )
    staging_storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec options for staging (endpoint, region, ...); secrets go in staging_credentials.",
    )
    staging_credentials: StagingCredentials | None = Field(
        default=None, description="Staging filesystem credentials, each an EnvVar; merged over staging_storage_options."
    )
    write_mode: str = Field(
        default="replace", description="Default write mode: replace | append | merge | insert_only | scd2."
    )
    keep_staged_files: bool = Field(default=False, description="Keep staged files after a successful load.")
    target_file_mb: int = Field(
        default=128,
        description="Size of each staged parquet file, in MiB. Part of the staged layout: an append re-executed "
        "with another value stages other files, which COPY INTO loads again.",
    )
    staging_threads: int = Field(
        default=0,
        ge=0,
        description="Threads that encode and upload staged parts; 0: the CPUs this process can use now. Speed "
        "only: the staged files are the same for any value.",
    )
    create_volume: bool = Field(
        default=False, description="With a /Volumes/<c>/<s>/<v>/... staging_url: CREATE VOLUME IF NOT EXISTS first."
    )
    progress_seconds: float = Field(
        default=5.0,
        ge=0,
        description="A load running longer than this logs progress to the run log this often: rows and MiB "
        "staged, then the load statement's elapsed time. 0 turns it off.",
    )
    conflict_retries: int = Field(
        default=8,
        ge=0,
        description="How often a statement that lost to a concurrent writer (DELTA_CONCURRENT_*, "
        "DELTA_METADATA_CHANGED, ...) runs again, with jittered exponential backoff. Nothing was committed.",
    )

    # output
    def handle_output(self, context: OutputContext, obj: Any) -> None:
        try:
            self._store(context, obj)
        except (ValueError, TypeError) as e:  # a setting or the data is wrong: say the fix first, do not retry
            if isinstance(e, Failure):
                raise
            label = _partition_label(context)
            raise DatabricksOutputError(
                f"{e} Nothing was written. Fix the output or the asset's metadata, then materialize it again "
                "(a retry would fail the same way).",
                error=type(e).__name__,
                **({"partition": label} if label else {}),
            ) from e

    def _store(self, context: OutputContext, obj: Any) -> None:
        """plan -> stage -> load -> report."""
        if obj is None:
            if context.dagster_type.typing_type is type(None):
                return
            raise TypeError(
                f"{_who(context)} returned None; DatabricksIOManager stores tables. Return a DataFrame, or annotate "
                "the function `-> None` if it writes nothing."
            )
        who = _who(context)
        settings = _settings(context)
        ref = self._table_ref(context, settings)
        spec = self._write_spec(context, settings)
        declared = _declared_columns(context)
        declared_types = {n: t for n, (t, _, _) in declared.items() if t}
        keys = {k.lower() for k in spec.primary_key}  # NOT NULL, as a PRIMARY KEY constraint needs
        reader = arrow.to_reader(obj, who=who, declared=declared_types)
        schema = arrow.databricks_schema(reader.schema, declared_types, who)
        columns = []
        for f in schema:
            _, comment, nullable = declared.get(f.name.lower(), (None, None, True))
            columns.append(
                ColumnSpec(
                    f.name, arrow_to_databricks(f.type, f.name), comment, nullable and f.name.lower() not in keys
                )
            )
        partitions.check(who, spec.partitions, {c.name: c.type for c in columns})
        mapped = [c.name for c in columns if column_problem(c.name)]
        spec = dataclasses.replace(spec, column_mapping=spec.column_mapping or bool(mapped))
        loader.validate(who, spec, columns)
        if spec.hard_delete:  # staged for the MERGE, not a table column
            marker = next(c for c in columns if c.name.lower() == spec.hard_delete.lower())
            if marker.type.upper() != "BOOLEAN":
                raise ValueError(
                    f"{who}: hard_delete column {marker.name!r} is {marker.type}; it must be BOOLEAN (true deletes "
                    "the row with the same primary_key). Cast it, or name a boolean column."
                )
            spec = dataclasses.replace(spec, hard_delete=marker.name)
            columns = [c for c in columns if c is not marker]
        untyped = {f.name for f in reader.schema if pa.types.is_null(f.type) and f.name.lower() not in declared_types}
        staging_url = self.staging_url_for(settings)
        # Retries and re-executions of the step share `folder`; an append names its parts after their bytes
        # there (COPY INTO skips the ones already loaded), other modes stage each attempt in its own folder.
        label = _partition_label(context)
        folder = prefix_for(str(ref), _root_run_id(context), context.step_key, label)
        prefix = folder if spec.mode == "append" else attempt_prefix(folder)

        with self.warehouse.connect() as connection, contextlib.ExitStack() as cleanup:
            session = loader.Session(connection.cursor(), self.conflict_retries, context.log.warning)
            # plan
            existing = loader.table_columns(session, ref)
            if existing is not None and mapped:
                loader.require_column_mapping(session, ref, mapped)
            plan = loader.plan(ref, spec, columns, existing, frozenset(untyped))
            if plan.dropped:
                context.log.info(
                    f"{who}: columns {plan.dropped} hold no values and have no declared type, so they are not "
                    "created yet; the first output with values adds them (or declare them in dagster/column_schema)."
                )
                reader, schema = arrow.without(reader, plan.dropped), arrow.without_fields(schema, plan.dropped)
            # typed as the table where the plan says so: all-null columns, BIGINT into DOUBLE, ...
            before = {c.name: c for c in columns}
            retyped = {c.name: c.type for c in plan.columns if c != before[c.name]}
            columns = plan.columns
            types = {c.name: c.type for c in columns}
            where = partitions.predicate(spec.partitions, types) if spec.partitions else None
            reader = arrow.cast_reader(reader, arrow.with_types(schema, retyped))
            if spec.partitions:
                reader = partitions.guard(reader, spec.partitions, who, types)
            collector = KeyCollector(reader, spec.primary_key, who) if spec.mode in loader.KEYED_MODES else None
            # stage
            progress = Progress(context.log.info, self.progress_seconds, who)
            self.ensure_volume(session, staging_url, settings)
            stager = cleanup.enter_context(contextlib.closing(self.stager(staging_url)))
            try:
                staged = stager.write(
                    collector.reader() if collector else reader, prefix, spec.mode == "append", progress.staged
                )
                if collector:
                    collector.check(allow_duplicates=spec.dedupe_by is not None)
            except BaseException:
                stager.delete(prefix)  # nothing was loaded: invalid or partial files are of no use
                raise
            # load
            start = time.perf_counter()
            checked_here = spec.mode not in loader.KEYED_MODES or not partitions.has_expressions(spec.partitions, types)
            if not checked_here and session.run(sql.count_outside(staged.url, where)).fetchone()[0]:
                stager.delete(prefix)  # a merge has no REPLACE WHERE to refuse rows outside an expression's partition
                raise ValueError(
                    f"{who}: some output rows lie outside partition {label!r} ({where} is not true for them). "
                    "Filter the output to the run's partition."
                )
            try:
                for statement in plan.ddl:
                    if statement not in session.statements:  # CREATE SCHEMA may have run for the volume
                        session.run(statement)
                load = loader.load_statement(ref, spec, columns, staged.url, staged.files)
                with progress.statement(load.split(None, 1)[0].upper()):
                    result = session.run(load).fetchone()
            except Exception as e:
                dropped = plan.create and loader.drop_if_unwritten(session, ref)
                raise DatabricksLoadError(
                    f"{who}: loading {ref}{f' (partition {label!r})' if label else ''} failed: {sql.redact(str(e))}\n"
                    + (f"The table {ref}, created for this load, was dropped again. " if dropped else "")
                    + f"The staged files are kept at {staged.url} for inspection; a retry of this step stages "
                    "its output again."
                ) from e
            load_seconds = time.perf_counter() - start
            tags = _governance_tags(context)
            if tags:
                loader.apply_tags(session, ref, tags)
            version = loader.table_version(session, ref)
            rows = staged.rows  # a replace leaves exactly the staged rows in the table (or partition)
            if spec.mode == "scd2":  # current versions; all of them in dbload/history_rows
                history_rows, rows = session.run(sql.count_versions(ref, spec.scd2.valid_to, where)).fetchone()
            elif spec.mode != "replace":
                rows = session.run(sql.count_rows(ref, where)).fetchone()[0]
            if not self.keep_staged_files:
                stager.delete(folder)  # this attempt's files and any a failed earlier attempt kept

        # report
        statements = [s for s in session.statements if not sql.is_bookkeeping(s)]
        url = self.warehouse.table_url(ref)
        context.add_output_metadata(
            {
                ("dagster/partition_row_count" if spec.partitions else "dagster/row_count"): rows,
                "dagster/table_name": str(ref),
                **({"dagster/uri": MetadataValue.url(url)} if url else {}),
                "dagster/column_schema": TableSchema(
                    columns=[
                        TableColumn(c.name, c.type.lower(), description=c.comment)
                        for c in [*columns, *(spec.scd2.specs() if spec.mode == "scd2" else [])]
                    ]
                ),
                "dbload/sql": MetadataValue.md(sql.markdown(statements)),
                "dbload/bookkeeping_sql": MetadataValue.json([s for s in session.statements if sql.is_bookkeeping(s)]),
                "dbload/write_mode": spec.mode,
                **(
                    {"dbload/history_rows": history_rows, "dbload/valid_from": MetadataValue.timestamp(spec.valid_at)}
                    if spec.mode == "scd2"
                    else {}
                ),
                **_load_counts(result),
                "dbload/staged_rows": staged.rows,
                "dbload/staged_files": len(staged.files),
                "dbload/staged_bytes": staged.bytes,
                "dbload/staged_size": _size(staged.bytes),
                "dbload/staged_url": staged.url,
                "dbload/staged_files_deleted": not self.keep_staged_files,
                "dbload/seconds_staging": round(staged.seconds, 3),
                "dbload/seconds_loading": round(load_seconds, 3),
                "dbload/table_version": version,
                "dbload/conflict_retries": session.conflicts,
            }
        )

    def ensure_volume(self, session: loader.Session, staging_url: str, settings: Mapping[str, Any]) -> None:
        """CREATE VOLUME IF NOT EXISTS for a /Volumes/... staging URL when asked (and its schema when missing)."""
        volume = _volume(staging_url)
        if not volume or not _flag(settings, "create_volume", self.create_volume):
            return
        try:
            session.run(sql.create_volume(volume))
        except Exception as e:  # a new schema: create it once, then the volume
            if "SCHEMA_NOT_FOUND" not in str(e):
                raise
            session.statements.pop()
            session.run(sql.create_schema(volume.catalog, volume.schema))
            session.run(sql.create_volume(volume))

    # input
    def load_input(self, context: InputContext) -> Any:
        upstream = context.upstream_output
        if upstream is None:
            raise ValueError(f"{_who(context)} has no upstream output to read a table from.")
        settings = dict(upstream.definition_metadata or {})
        ref = self._table_ref(upstream, settings)
        columns = (context.definition_metadata or {}).get("columns")
        mapped_to_nothing = context.has_asset_partitions and not context.asset_partition_keys
        with self.warehouse.connect() as connection:
            session = loader.Session(connection.cursor())
            existing = loader.table_columns(session, ref)
            if mapped_to_nothing:  # e.g. the first partition of an asset that reads its previous partition
                return arrow.from_table(_empty(existing or [], columns), context.dagster_type.typing_type)
            if existing is None:
                raise ValueError(f"Table {ref} does not exist: materialize {_who(upstream)} first.")
            where = None
            if context.has_asset_partitions and not _scd2_snapshots(context, settings):
                parts = partitions.slices(
                    _who(upstream), context.asset_partitions_def, context.asset_partition_keys,
                    settings.get("partition_expr"),
                )  # fmt: skip
                where = partitions.predicate(parts, {c.name: c.type for c in existing})
            if settings.get("write_mode") == "scd2":
                columns, where = _scd2_read(context, settings, existing, columns, where)
            table: pa.Table = session.run(sql.select(ref, columns, where)).fetchall_arrow()
        return arrow.from_table(table, context.dagster_type.typing_type)

    # settings
    def _table_ref(self, context: OutputContext, settings: Mapping[str, Any]) -> TableRef:
        return self.table_ref(context.asset_key.path if context.has_asset_key else [context.name], settings)

    def table_ref(self, path: Sequence[str], settings: Mapping[str, Any]) -> TableRef:
        """The table of an asset key `path` with definition metadata `settings` (Dagster's DB IO manager rules)."""
        table = settings.get("table") or path[-1]
        schema = settings.get("schema") or self.schema_ or (path[-2] if len(path) > 1 else "default")
        return TableRef(settings.get("catalog") or self.catalog, schema, table)

    def _write_spec(self, context: OutputContext, settings: Mapping[str, Any]) -> loader.WriteSpec:
        mode = settings.get("write_mode", self.write_mode)
        evolution = settings.get("schema_evolution", "add_columns")
        for name, value, allowed in (
            ("write_mode", mode, loader.WRITE_MODES),
            ("schema_evolution", evolution, loader.EVOLUTIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{_who(context)}: {name}={value!r} is not one of {list(allowed)}.")
        primary_key = names(settings.get("primary_key"))
        if mode in loader.KEYED_MODES and not primary_key:
            raise ValueError(
                f"{_who(context)}: write_mode={mode!r} needs the columns that identify a row: add "
                "metadata={'primary_key': ['<column>', ...]} to its definition."
            )
        if mode != "scd2" and any(k.startswith("scd2_") for k in settings):
            raise ValueError(
                f"{_who(context)}: {sorted(k for k in settings if k.startswith('scd2_'))} apply to "
                f"write_mode='scd2' only (it is {mode!r})."
            )
        hard_delete = settings.get("hard_delete")
        if hard_delete is not None and mode != "merge":
            raise ValueError(
                f"{_who(context)}: hard_delete={hard_delete!r} needs write_mode='merge' (it is {mode!r}): a row "
                "flagged true deletes the table row with its primary_key in the same MERGE."
            )
        parts: list[partitions.PartitionSlice] = []
        if context.has_asset_partitions and not _scd2_snapshots(context, settings):
            parts = partitions.slices(
                _who(context),
                context.asset_partitions_def,
                context.asset_partition_keys,
                settings.get("partition_expr"),
            )
        spec = context.asset_spec if context.has_asset_key else None
        return loader.WriteSpec(
            mode=mode,
            schema_evolution=evolution,
            partition_by=names(settings.get("partition_by")),
            cluster_by=names(settings.get("cluster_by")),
            comment=spec.description if spec is not None else None,
            primary_key=primary_key,
            dedupe_by=settings.get("dedupe_by"),
            version_by=settings.get("version_by"),
            delete_missing=_flag(settings, "delete_missing", False, _who(context)),
            hard_delete=hard_delete,
            partitions=tuple(parts),
            scd2=_scd2_columns(settings),
            scd2_close_missing=_flag(settings, "scd2_close_missing", True, _who(context)),
            valid_at=_valid_at(context, settings, parts) if mode == "scd2" else None,
            create_table=_flag(settings, "create_table", True, _who(context)),
            column_mapping=_flag(settings, "column_mapping", False, _who(context)),
            defer_empty_columns=_flag(settings, "defer_empty_columns", False, _who(context)),
        )

    def staging_url_for(self, settings: Mapping[str, Any]) -> str:
        """Where an asset with definition metadata `settings` stages (its own `staging_url`, else the IO manager's)."""
        url = settings.get("staging_url") or self.staging_url or self.warehouse.default_staging_url()
        if url is None:
            raise ValueError(
                "DatabricksIOManager needs staging_url for this warehouse: an s3://, abfss:// or az:// prefix the "
                "warehouse can read, or a Unity Catalog Volume path /Volumes/<catalog>/<schema>/<volume>/<dir>."
            )
        return url

    def stager(self, url: str) -> Stager:
        """A Stager writing parquet under `url` with this IO manager's credentials and file size."""
        credentials = self.staging_credentials.options() if self.staging_credentials else {}
        return Stager(
            url,
            {**self.staging_storage_options, **credentials},
            self.target_file_mb * 1024 * 1024,
            threads=self.staging_threads or None,
            filesystem=self.warehouse.staging_filesystem(url),
        )


def _scd2_read(
    context: InputContext,
    settings: Mapping[str, Any],
    existing: list[ColumnSpec],
    columns: list[str] | None,
    where: str | None,
) -> tuple[list[str], str | None]:
    """An scd2 table reads as its current rows without the history columns, a time partition of it as the
    versions valid at the partition's end; `AssetIn` metadata `scd2_history=True` reads every version."""
    scd2 = _scd2_columns(settings)
    history = _flag(context.definition_metadata or {}, "scd2_history", False, _who(context))
    hidden = {scd2.row_hash.lower()} | (set() if history else {scd2.valid_from.lower(), scd2.valid_to.lower()})
    columns = [c for c in (columns or [c.name for c in existing]) if c.lower() not in hidden]
    if history:
        return columns, where
    frm, to = quote(scd2.valid_from), quote(scd2.valid_to)
    if _scd2_snapshots(context, settings):
        moment = sql.timestamp(context.asset_partitions_time_window.end - dt.timedelta(microseconds=1))
        return columns, f"{frm} <= {moment} AND ({to} IS NULL OR {to} > {moment})"
    current = f"{to} IS NULL"
    return columns, f"({where}) AND {current}" if where else current


def _scd2_columns(settings: Mapping[str, Any]) -> sql.Scd2Columns:
    default = sql.Scd2Columns()
    return sql.Scd2Columns(
        settings.get("scd2_valid_from", default.valid_from),
        settings.get("scd2_valid_to", default.valid_to),
        settings.get("scd2_row_hash", default.row_hash),
    )


def _valid_at(
    context: OutputContext, settings: Mapping[str, Any], parts: Sequence[partitions.PartitionSlice]
) -> dt.datetime:
    """When scd2 changes take effect: the start of a time-partitioned asset's partition, else the run's start
    (the same for every retry of the step, so a retry changes nothing)."""
    window = next((p for p in parts if p.is_window), None)
    if window is not None and window.start is not None:
        moment = window.start
    elif _scd2_snapshots(context, settings):
        moment = context.asset_partitions_time_window.start
    else:
        try:
            record = context.step_context.instance.get_run_record_by_id(context.run_id)
            started = record.start_time if record is not None else None
        except DagsterInvariantViolationError:  # an output context built outside a run
            started = None
        moment = dt.datetime.fromtimestamp(started or time.time(), dt.timezone.utc)
    return moment


def _scd2_snapshots(context: OutputContext | InputContext, settings: Mapping[str, Any]) -> bool:
    """An scd2 asset with time partitions and no `partition_expr`: each partition is a full snapshot, valid from
    the partition's start; reading a partition reads the versions valid at its end."""
    return (
        settings.get("write_mode") == "scd2"
        and settings.get("partition_expr") is None
        and context.has_asset_partitions
        and isinstance(context.asset_partitions_def, TimeWindowPartitionsDefinition)
    )


def _volume(url: str) -> TableRef | None:
    """The catalog.schema.volume of a /Volumes/... URL, as a three-part name."""
    parts = url.removeprefix("dbfs:").split("/")
    return (
        TableRef(parts[2], parts[3], parts[4])
        if url.removeprefix("dbfs:").startswith("/Volumes/") and len(parts) > 4
        else None
    )


def _who(context: OutputContext | InputContext) -> str:
    if context.has_asset_key:
        return f"Asset {context.asset_key.to_user_string()!r}"
    return f"Output {context.name!r}"


def _load_counts(result: Any) -> dict[str, int]:
    """Rows inserted / updated / deleted, from the load statement's own answer (exact even with other writers)."""
    names = {"num_inserted_rows": "inserted", "num_updated_rows": "updated", "num_deleted_rows": "deleted"}
    answer = result.asDict() if result is not None and hasattr(result, "asDict") else {}
    return {f"dbload/rows_{names[k]}": int(v) for k, v in answer.items() if k in names and v is not None}


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    raise AssertionError  # unreachable


def _root_run_id(context: OutputContext) -> str:
    """The id of the first run of a re-execution group: retries and re-executions of a step share it."""
    try:
        run = context.step_context.dagster_run
    except DagsterInvariantViolationError:  # an output context built outside a run
        return context.run_id
    return run.root_run_id or run.run_id


def _flag(settings: Mapping[str, Any], key: str, default: bool, who: str = "DatabricksIOManager") -> bool:
    return flag(settings.get(key, default), f"{who}: metadata {key!r}")


def _unwrap(value: Any) -> Any:
    return getattr(value, "value", value) if isinstance(value, MetadataValue) else value


def _settings(context: OutputContext) -> dict[str, Any]:
    merged = {**(context.definition_metadata or {}), **(context.output_metadata or {})}
    return {k: _unwrap(v) for k, v in merged.items()}


def _declared_columns(context: OutputContext) -> dict[str, tuple[str | None, str | None, bool]]:
    """Lower-cased column name -> (declared type, description, nullable) from `dagster/column_schema`; a type that is
    not a Databricks SQL type raises naming the column."""
    schema = _unwrap((context.definition_metadata or {}).get("dagster/column_schema"))
    if not isinstance(schema, TableSchema):
        return {}
    declared = {}
    for c in schema.columns:
        type_sql = c.type if c.type and c.type != "?" else None
        if type_sql is not None:
            try:
                arrow.databricks_to_arrow(type_sql)
            except ValueError:
                raise ValueError(
                    f"{_who(context)}: dagster/column_schema declares column {c.name!r} as {type_sql!r}, which is "
                    f"not a Databricks SQL type. Use one of {arrow.TYPE_NAMES}, DECIMAL(p,s), ARRAY<t>, "
                    "MAP<k,v> or STRUCT<name: t, ...>."
                ) from None
        declared[c.name.lower()] = (type_sql, c.description, not (c.constraints and c.constraints.nullable is False))
    return declared


def _governance_tags(context: OutputContext) -> dict[str, str]:
    """The asset's tags (not Dagster's own dagster/* ones) and owners, as Unity Catalog table tags."""
    spec = context.asset_spec if context.has_asset_key else None
    if spec is None:
        return {}
    tags = {k: str(v) for k, v in (spec.tags or {}).items() if not k.startswith("dagster/")}
    if spec.owners:
        tags["dagster_owners"] = ", ".join(spec.owners)
    return tags


def _empty(existing: list[ColumnSpec], columns: list[str] | None) -> pa.Table:
    wanted = {c.lower() for c in columns} if columns else None
    fields = [pa.field(c.name, arrow.databricks_to_arrow(c.type)) for c in existing]
    return pa.schema([f for f in fields if wanted is None or f.name.lower() in wanted]).empty_table()


def _partition_label(context: OutputContext) -> str | None:
    if not context.has_partition_key:
        return None
    if context.has_asset_partitions:
        keys = context.asset_partition_keys
        return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"
    return context.partition_key
