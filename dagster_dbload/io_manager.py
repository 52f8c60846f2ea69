"""DatabricksIOManager: Dagster glue. Settings resolve in request.py, outputs are typed in prepare.py, staged in
staging.py and loaded by loader.py (SQL from sql.py); report.py turns the outcome into metadata."""

from __future__ import annotations

import atexit
import collections.abc
import contextlib
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
from dagster import Config, ConfigurableIOManager, DagsterType, Failure, InputContext, OutputContext
from pydantic import Field, PrivateAttr

from . import arrow, guard, incremental, loader, partitions, report, request, sql
from .prepare import Output, prepare, staged_stream
from .progress import Progress
from .sql import ColumnSpec
from .staging import Attempt, StagedFiles, Stager, volume_of
from .warehouse import SQLWarehouse


class DatabricksLoadError(RuntimeError):
    """The load statement failed; the staged files were kept."""


class DatabricksOutputError(Failure, ValueError):
    """An output or its settings cannot be stored; nothing was written. The run page shows the fix first."""

    def __init__(self, description: str, **metadata: Any):
        super().__init__(description=description, metadata=metadata, allow_retries=False)


class DatabricksInputError(DatabricksOutputError):
    """An input asks for what its table cannot give (e.g. changes without a change feed); nothing was read."""


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
    table_stats: bool = Field(
        default=False,
        description="After each load, ask the table's row count (append, merge, insert_only, scd2: one SELECT "
        "count(*)) and Delta version (one DESCRIBE HISTORY) for dagster/row_count and dbload/table_version. Off, a "
        "load into an existing table is two statements; a replace reports its row count either way.",
    )
    change_data_feed: bool = Field(
        default=False,
        description="Tables record Delta's change data feed (delta.enableChangeDataFeed), which inputs with "
        "metadata changes_since read incrementally: new tables are created with it, existing ones get it once.",
    )
    foreign_writes: str = Field(
        default="warn",
        description="Before a guarded write, commits to the table that this asset did not make since its last "
        "write: 'warn' (log them, list them in dbload/foreign_writes, write), 'strict' (fail before anything is "
        "written) or 'ignore'. Needs a Dagster instance that keeps runs.",
    )
    foreign_writes_check: str = Field(
        default="replace", description="Which writes are guarded: 'replace' or 'every_write'."
    )
    conflict_retries: int = Field(
        default=8,
        ge=0,
        description="How often a statement that lost to a concurrent writer (DELTA_CONCURRENT_*, "
        "DELTA_METADATA_CHANGED, ...) runs again, with jittered exponential backoff. Nothing was committed.",
    )

    _volumes_made: set[str] = PrivateAttr(default_factory=set)  # CREATE VOLUME IF NOT EXISTS ran for these

    # output: resolve -> prepare -> plan -> stage -> execute -> report
    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None and context.dagster_type.typing_type is type(None):
            return  # an asset that writes nothing itself
        with _fix_first(context):
            if obj is None:
                raise TypeError(
                    f"{request.describe(context)} returned None; DatabricksIOManager stores tables. Return a "
                    "DataFrame, or annotate the function `-> None` if it writes nothing."
                )
            wanted = request.for_output(context, self.defaults())
            output = prepare(wanted, obj)
            with self.warehouse.session() as connection:
                session = loader.Session(connection.cursor(), self.conflict_retries, context.log.warning)
                plan = self._plan(session, wanted, output, context.log.info)
                check = self._guard(context, session, wanted, plan)
                self.ensure_volume(session, wanted.staging_url, wanted.settings.create_volume)
                append = wanted.settings.mode == "append"
                stager = self.stager(wanted.staging_url, connection)
                with Attempt(stager, wanted.folder, append, self.keep_staged_files) as attempt:
                    progress = Progress(context.log.info, self.progress_seconds, wanted.who)
                    staged = self._stage(session, attempt, wanted, output, plan, progress)
                    if check is not None:
                        guard.announce(context, check, wanted.settings.mode, staged.rows)
                    outcome = self._execute(session, attempt, wanted, plan, staged, progress, check)
        url = self.warehouse.table_url(wanted.ref)
        context.add_output_metadata(
            report.metadata(wanted, plan, staged, outcome, url, not self.keep_staged_files, check)
        )

    def _plan(
        self, session: loader.Session, wanted: request.WriteRequest, output: Output, log: Callable[[str], None]
    ) -> loader.Plan:
        """The DDL that makes the table fit the output, from one DESCRIBE; mismatches raise here."""
        table = loader.describe(session, wanted.ref)
        if table is not None and output.mapped:
            loader.require_column_mapping(wanted.ref, table, output.mapped)
        existing, properties = (table.columns, table.properties) if table is not None else (None, None)
        plan = loader.plan(wanted.ref, output.spec, output.columns, existing, output.untyped, properties)
        if plan.dropped:
            log(
                f"{wanted.who}: columns {plan.dropped} hold no values and have no declared type, so they are not "
                "created yet; the first output with values adds them (or declare them in dagster/column_schema)."
            )
        return plan

    def _guard(
        self, context: OutputContext, session: loader.Session, wanted: request.WriteRequest, plan: loader.Plan
    ) -> guard.Check | None:
        """A guarded write first reads the table's history: commits this asset did not make since its last write
        are logged, or with foreign_writes="strict" refused before anything is staged. None: not guarded, or
        Dagster keeps no runs to compare with."""
        if not wanted.settings.guarded or not guard.keeps_runs(context):
            return None
        if plan.create:
            return guard.Check(base=-1)  # a table this write creates: every commit after it is looked at
        history = guard.commits(session.run(sql.describe_history(wanted.ref, guard.HISTORY_LIMIT)).fetchall())
        # this asset's writes only now: each commit in `history` was announced before it was made
        writes = guard.own_writes(context)
        found = guard.foreign(history, writes, wanted.partition_label)
        check = guard.Check(history[-1].version if history else -1, tuple(c.describe() for c in found),
                            None if found else guard.rows_before(history, writes, wanted.partition_label))  # fmt: skip
        if found:
            what = (f"{wanted.ref} was written by someone else since {wanted.who} last wrote it: "
                    f"{'; '.join(check.foreign)}.")  # fmt: skip
            if wanted.settings.foreign_writes == "strict":
                raise DatabricksOutputError(
                    f"{what} Nothing was written (foreign_writes='strict'). Look at what they changed (DESCRIBE "
                    f"HISTORY {wanted.ref}); to write over it, materialize with foreign_writes='warn' in the "
                    "asset's metadata.",
                    foreign_writes=list(check.foreign),
                )
            context.log.warning(f"{what} This write goes ahead (foreign_writes='warn').")
        return check

    def _stage(
        self, session: loader.Session, attempt: Attempt, wanted: request.WriteRequest, output: Output,
        plan: loader.Plan, progress: Progress,
    ) -> StagedFiles:  # fmt: skip
        """Write the output's parquet, check its keys and partition, and build the load statement from the
        files: everything that can fail without the warehouse changing fails here."""
        reader, collector = staged_stream(output, plan, wanted.who)
        staged = attempt.write(reader, progress.staged)
        if collector:
            collector.check(allow_duplicates=output.spec.dedupe_by is not None)
        types = {c.name: c.type for c in plan.columns}
        if output.spec.mode in request.KEYED_MODES and partitions.has_expressions(wanted.partitions, types):
            where = partitions.predicate(wanted.partitions, types)  # a merge has no REPLACE WHERE to refuse them
            if session.run(sql.count_outside(staged.url, where)).fetchone()[0]:
                raise ValueError(
                    f"{wanted.who}: some output rows lie outside partition {wanted.partition_label!r} ({where} is "
                    "not true for them). Filter the output to the run's partition."
                )
        plan.load = loader.load_statement(wanted.ref, output.spec, plan.columns, staged.url, staged.files)
        return staged

    def _execute(
        self, session: loader.Session, attempt: Attempt, wanted: request.WriteRequest, plan: loader.Plan,
        staged: StagedFiles, progress: Progress, check: guard.Check | None,
    ) -> report.Outcome:  # fmt: skip
        """The DDL and the load statement (a table created for a load that failed is dropped again); with
        `table_stats`, then the table's version and row counts (without, the row count where the guard's `check`
        or a new table tells it)."""
        attempt.sent = True
        start = time.perf_counter()
        try:
            self._run_ddl(session, wanted, plan.ddl)
            with progress.statement(plan.load.split(None, 1)[0].upper()):
                answer = session.run(plan.load).fetchone()
        except Exception as e:
            # a partition's run may share a new table with other partitions' runs loading into it right now:
            # dropping it could lose their rows, so only an unpartitioned asset's new table is dropped again
            dropped = plan.create and not wanted.partitions and loader.drop_if_unwritten(session, wanted.ref)
            label = wanted.partition_label
            raise DatabricksLoadError(
                f"{wanted.who}: loading {wanted.ref}{f' (partition {label!r})' if label else ''} failed: "
                f"{sql.redact(str(e))}\n"
                + (f"The table {wanted.ref}, created for this load, was dropped again. " if dropped else "")
                + f"The staged files are kept at {staged.url} for inspection; a retry of this step stages "
                "its output again."
            ) from e
        seconds = time.perf_counter() - start
        if wanted.tags:
            loader.apply_tags(session, wanted.ref, wanted.tags)
        counts = report.load_counts(answer)
        before = 0 if plan.create else check.rows if check is not None else None  # the rows before, where known
        if session.resent:  # the connector sent a statement again: its answer may not tell what the load did
            before = None
        state = loader.table_state(session, wanted, plan.columns, staged.rows, counts, before)
        return report.Outcome(
            rows=state.rows,
            version=state.version,
            counts=counts,
            history_rows=state.history_rows,
            seconds_loading=seconds,
            conflict_retries=session.conflicts,
            statements=tuple(session.statements),
        )

    def _run_ddl(self, session: loader.Session, wanted: request.WriteRequest, ddl: Sequence[str]) -> None:
        """The plan's DDL. A new table's schema is created only when CREATE TABLE finds it missing (as the volume's
        is): a table in an existing schema costs one statement and no privilege to create schemas."""
        schema = sql.create_schema(wanted.ref.catalog, wanted.ref.schema)
        for statement in ddl:
            if statement == schema or statement in session.statements:  # the schema: only if found missing
                continue
            if schema in ddl:
                session.run_in_schema(statement, schema)
            else:
                session.run(statement)

    def ensure_volume(self, session: loader.Session, staging_url: str, create: bool) -> None:
        """CREATE VOLUME IF NOT EXISTS for a /Volumes/... staging URL when `create` (and its schema when missing)."""
        volume = volume_of(staging_url)
        if volume is None or not create or str(volume) in self._volumes_made:
            return
        session.run_in_schema(sql.create_volume(volume), sql.create_schema(volume.catalog, volume.schema))
        self._volumes_made.add(str(volume))  # once per resource (a step's, or an in-process run's)

    # input
    def load_input(self, context: InputContext) -> Any:
        wanted = request.for_input(context, self.defaults())
        target_type = context.dagster_type.typing_type
        with self.warehouse.session() as connection:
            session = loader.Session(connection.cursor())
            table = loader.describe(session, wanted.ref)
            if wanted.mapped_to_nothing:  # e.g. the first partition of an asset that reads its previous partition
                return arrow.from_table(_empty(table.columns if table else [], wanted.columns), target_type)
            if table is None:
                raise ValueError(f"Table {wanted.ref} does not exist: materialize {wanted.settings.who} first.")
            if wanted.changes is not None:  # a change set is small: read whole, then given as the type asks
                changes = self._load_changes(context, session, wanted, table)
                if arrow.streams(target_type):
                    return arrow.from_stream(changes.to_reader(), target_type, _spill_dir())
                return arrow.from_table(changes, target_type)
            columns, where = loader.read_scope(wanted, table.columns)
            statement = sql.select(wanted.ref, columns, where)
            if not arrow.streams(target_type):
                return arrow.from_table(session.run(statement).fetchall_arrow(), target_type)
        # a stream holds its own connection until it is read (or, for a LazyFrame, until it is spilled)
        return arrow.from_stream(self.warehouse.stream(statement), target_type, _spill_dir())

    def _load_changes(
        self, context: InputContext, session: loader.Session, wanted: request.ReadRequest, table: loader.TableInfo
    ) -> pa.Table:
        """An incremental input: the rows changed in the versions after the last read (or since a version), as
        the change feed holds them; the versions read go on the reading asset's materialization."""
        assert wanted.changes is not None
        upstream = context.asset_key.to_user_string()
        read = incremental.next_read(context, upstream, wanted.changes.since)
        end = read.end if read.end is not None else loader.table_version(session, wanted.ref)
        start, mode = read.start, "changes" if read.start is not None else "full: nothing read before"
        problem = loader.feed_problem(wanted.ref, table, start)
        rows = None
        if problem is None:
            query = loader.changes_query(wanted, table, start, end)
            try:
                rows = session.run(query).fetchall_arrow() if query else _empty(table.columns, wanted.columns, True)
            except Exception as e:
                if not loader.feed_gone(e):
                    raise
                problem = f"the change data feed of {wanted.ref} does not hold versions {start} to {end}: {e}"
        if problem is not None:
            if wanted.changes.fallback != "full_read":
                raise DatabricksInputError(
                    f"Input {context.name!r} of {context.op_def.name!r} asks for the changes since version {start}, but "
                    f"{problem}. Turn the feed on with metadata {{'change_data_feed': True}} on {wanted.settings.who} (or "
                    f"{sql.set_properties(wanted.ref, sql.CHANGE_DATA_FEED)}), or let this input read the whole "
                    "table when the feed cannot answer: AssetIn(metadata={'changes_fallback': 'full_read'})."
                )
            context.log.warning(
                f"Input {context.name!r} of {context.op_def.name!r}: {problem}; reading the whole table."
            )
            start, mode = None, f"full: {problem}"
            full = loader.changes_query(wanted, table, None, end)
            assert full is not None  # with no start: the table as of `end`
            rows = session.run(full).fetchall_arrow()
        assert rows is not None  # read above, or (when the feed cannot answer) the whole table
        incremental.record(context, upstream, incremental.Versions(start, end), mode, rows.num_rows)
        return rows

    # settings
    def defaults(self) -> request.Defaults:
        """The settings an asset's metadata may override (staging: the IO manager's, else the warehouse's)."""
        staging_url = self.staging_url or self.warehouse.default_staging_url()
        return request.Defaults(
            self.catalog, self.schema_, self.write_mode, staging_url, self.create_volume, self.table_stats,
            self.change_data_feed, self.foreign_writes, self.foreign_writes_check,
        )  # fmt: skip

    def settings_for(self, path: Sequence[str], metadata: Mapping[str, Any]) -> request.AssetSettings:
        """The settings of the asset at key `path` with definition metadata `metadata`, as its loads use them."""
        return request.asset_settings(path, metadata, self.defaults(), f"Asset {'/'.join(path)!r}")

    def resolved_staging_url(self) -> str:
        """Where assets without their own `staging_url` stage."""
        return request.require_staging_url(self.defaults().staging_url)

    def stager(self, url: str, connection: Any = None) -> Stager:
        """A Stager writing parquet under `url` with this IO manager's credentials, file size and threads (a
        Volume's through `connection` when it is free)."""
        credentials = self.staging_credentials.options() if self.staging_credentials else {}
        return Stager(
            url,
            {**self.staging_storage_options, **credentials},
            self.target_file_mb * 1024 * 1024,
            threads=self.staging_threads or None,
            filesystem=self.warehouse.staging_filesystem(url, connection),
        )


@functools.cache
def Batches(frame: type) -> DagsterType:  # noqa: N802 - reads as a type in ins={...}
    """The Dagster type of an input read as an iterator of `frame` (pyarrow RecordBatch or Table, pandas or
    polars DataFrame), one per batch: `ins={"t": AssetIn(dagster_type=Batches(pd.DataFrame))}` with the
    parameter annotated `Iterator[pd.DataFrame]` (Dagster cannot infer a type from an iterator annotation)."""
    return DagsterType(
        type_check_fn=lambda _, value: isinstance(value, collections.abc.Iterator),
        name=f"Batches[{frame.__module__.split('.')[0]}.{frame.__name__}]",
        typing_type=Iterator[frame],  # type: ignore[valid-type]
        description=f"An iterator of {frame.__module__.split('.')[0]} {frame.__name__}s, streamed from the table.",
    )


_SPILLED: list[str] = []


def _spill_dir() -> str:
    """This process's folder for LazyFrame inputs' parquet (removed when the process exits)."""
    if not _SPILLED:
        _SPILLED.append(tempfile.mkdtemp(prefix="dbload-inputs-"))
        atexit.register(shutil.rmtree, _SPILLED[0], True)
    return _SPILLED[0]


@contextlib.contextmanager
def _fix_first(context: OutputContext) -> Iterator[None]:
    """A wrong setting or bad data fails the step with the fix first, not retried (a retry would fail the same)."""
    try:
        yield
    except (ValueError, TypeError) as e:
        if isinstance(e, Failure):
            raise
        label = request.partition_label(context)
        raise DatabricksOutputError(
            f"{e} Nothing was written. Fix the output or the asset's metadata, then materialize it again "
            "(a retry would fail the same way).",
            error=type(e).__name__,
            **({"partition": label} if label else {}),
        ) from e


def _empty(existing: list[ColumnSpec], columns: Sequence[str] | None, changes: bool = False) -> pa.Table:
    """No rows, with the table's (wanted) columns and, for an incremental read, the change feed's."""
    wanted = {c.lower() for c in columns} if columns else None
    fields = [pa.field(c.name, arrow.databricks_to_arrow(c.type)) for c in existing]
    fields = [f for f in fields if wanted is None or f.name.lower() in wanted]
    if changes:
        types = (pa.string(), pa.int64(), pa.timestamp("us", "UTC"))
        fields += [pa.field(name, t) for name, t in zip(sql.CHANGE_COLUMNS, types, strict=True)]
    return pa.schema(fields).empty_table()
