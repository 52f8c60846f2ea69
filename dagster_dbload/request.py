"""Every setting of a load or a read, resolved once into a frozen request: the IO manager's defaults <
definition metadata < output metadata for a write; the upstream asset's settings plus input metadata for a
read. Keys and values are checked here, before anything is staged or sent; a key that is a near miss of one
of ours (`primary_keys`, `write-mode`) is refused with "did you mean", other metadata is left alone."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    DagsterInvariantViolationError,
    InputContext,
    MetadataValue,
    OutputContext,
    TableSchema,
    TimeWindowPartitionsDefinition,
)

from . import arrow, partitions, sql
from .naming import TableRef
from .partitions import PartitionSlice
from .staging import prefix_for

WRITE_MODES = ("replace", "append", "merge", "insert_only", "scd2")
KEYED_MODES = ("merge", "insert_only", "scd2")  # need primary_key; staged keys are checked
EVOLUTIONS = ("add_columns", "strict")

# definition / output metadata of an asset (the README's table), and where each applies
ASSET_KEYS = (
    "write_mode", "primary_key", "dedupe_by", "version_by", "delete_missing", "hard_delete", "partition_expr",
    "partition_by", "cluster_by", "schema_evolution", "create_table", "defer_empty_columns", "column_mapping",
    "table", "schema", "catalog", "staging_url", "create_volume", "scd2_close_missing", "scd2_valid_from",
    "scd2_valid_to", "scd2_row_hash", "table_stats", "change_data_feed", "foreign_writes", "foreign_writes_check",
)  # fmt: skip
INPUT_KEYS = ("columns", "scd2_history", "changes_since", "changes_preimages", "changes_fallback")
CHANGE_FALLBACKS = ("error", "full_read")
FOREIGN_WRITES = ("warn", "strict", "ignore")  # what a guarded write does about commits it did not make
FOREIGN_WRITES_CHECKS = ("replace", "every_write")  # which writes are guarded
_ONLY_FOR = {"hard_delete": ("merge",), "delete_missing": ("merge",), "version_by": ("merge",),
             "dedupe_by": KEYED_MODES}  # fmt: skip


@dataclass(frozen=True)
class Defaults:
    """The IO manager's settings that an asset's metadata may override."""

    catalog: str = "main"
    schema: str | None = None
    write_mode: str = "replace"
    staging_url: str | None = None
    create_volume: bool = False
    table_stats: bool = False
    change_data_feed: bool = False
    foreign_writes: str = "warn"
    foreign_writes_check: str = "replace"


@dataclass(frozen=True)
class Declared:
    """A column as `dagster/column_schema` declares it."""

    name: str
    type: str | None
    description: str | None
    nullable: bool = True


@dataclass(frozen=True)
class AssetSettings:
    """One asset's settings with the IO manager's defaults applied, checked and typed."""

    who: str
    ref: TableRef
    mode: str = "replace"
    primary_key: tuple[str, ...] = ()
    dedupe_by: str | None = None
    version_by: str | None = None
    delete_missing: bool = False
    hard_delete: str | None = None
    partition_expr: str | Mapping[str, str] | None = None
    partition_by: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()
    schema_evolution: str = "add_columns"
    create_table: bool = True
    defer_empty_columns: bool = False
    column_mapping: bool = False
    staging_url: str | None = None
    create_volume: bool = False
    scd2: sql.Scd2Columns = sql.Scd2Columns()
    scd2_close_missing: bool = True
    table_stats: bool = False  # after a load, ask the table's rows (append and keyed modes) and Delta version
    change_data_feed: bool = False  # the table records its change data feed (delta.enableChangeDataFeed)
    foreign_writes: str = "warn"  # commits this asset did not make, before a guarded write: warn, strict, ignore
    foreign_writes_check: str = "replace"  # guarded writes: replaces, or every write
    declared: Mapping[str, Declared] = field(default_factory=dict)  # lower-cased name -> declared column

    @property
    def guarded(self) -> bool:
        """Whether a write looks for foreign commits first."""
        return self.foreign_writes != "ignore" and (
            self.mode == "replace" or self.foreign_writes_check == "every_write"
        )

    @property
    def declared_types(self) -> dict[str, str]:
        return {name: d.type for name, d in self.declared.items() if d.type}


@dataclass(frozen=True)
class WriteRequest:
    """One materialization: the asset's settings plus what the run and partition decide."""

    settings: AssetSettings
    partitions: tuple[PartitionSlice, ...] = ()
    partition_label: str | None = None
    valid_at: dt.datetime | None = None  # scd2: when the changes take effect (run or partition start)
    folder: str = ""  # (table, root run, step, partition): the same for every retry and re-execution
    staging_url: str = ""
    comment: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def who(self) -> str:
        return self.settings.who

    @property
    def ref(self) -> TableRef:
        return self.settings.ref


@dataclass(frozen=True)
class ChangesWanted:
    """An incremental input: the rows changed since `since` ("last_read": the version this asset's last
    materialization read), with update pre-images when `preimages`; `fallback` "full_read" reads the whole table
    when the change feed cannot answer."""

    since: str | int = "last_read"
    preimages: bool = False
    fallback: str = "error"


@dataclass(frozen=True)
class ReadRequest:
    """One input: the upstream asset's settings plus what the input asks for."""

    settings: AssetSettings
    columns: tuple[str, ...] | None = None
    partitions: tuple[PartitionSlice, ...] = ()
    mapped_to_nothing: bool = False  # a partitioned input mapped to no partition at all
    scd2_history: bool = False  # scd2: every version, with the validity columns
    scd2_moment: dt.datetime | None = None  # scd2 snapshots: the versions valid at this moment
    changes: ChangesWanted | None = None  # an incremental input: the change data feed instead of the rows

    @property
    def ref(self) -> TableRef:
        return self.settings.ref


def asset_settings(path: Sequence[str], metadata: Mapping[str, Any], defaults: Defaults, who: str) -> AssetSettings:
    """The settings of the asset at key `path` with (definition, then output) `metadata` merged over `defaults`."""
    values = {k: unwrap(v) for k, v in metadata.items()}
    _refuse_near_misses(values, ASSET_KEYS, who)
    mode = _choice(values, "write_mode", defaults.write_mode, WRITE_MODES, who)
    primary_key = _names(values, "primary_key", who)
    if mode in KEYED_MODES and not primary_key:
        raise ValueError(
            f"{who}: write_mode={mode!r} needs the columns that identify a row: add "
            "metadata={'primary_key': ['<column>', ...]} to its definition."
        )
    for key, modes in _ONLY_FOR.items():
        if values.get(key) not in (None, False) and mode not in modes:
            needed = f"write_mode={modes[0]!r}" if len(modes) == 1 else f"write_mode in {list(modes)}"
            raise ValueError(
                f"{who}: {key}={values[key]!r} needs {needed} (it is {mode!r}). Remove {key}, or set write_mode."
            )
    scd2_keys = sorted(k for k in values if k.startswith("scd2_"))
    if scd2_keys and mode != "scd2":
        raise ValueError(f"{who}: {scd2_keys} apply to write_mode='scd2' only (it is {mode!r}).")
    default = sql.Scd2Columns()
    return AssetSettings(
        who=who,
        ref=TableRef(
            _text(values, "catalog", who) or defaults.catalog,
            _text(values, "schema", who) or defaults.schema or (path[-2] if len(path) > 1 else "default"),
            _text(values, "table", who) or path[-1],
        ),
        mode=mode,
        primary_key=primary_key,
        dedupe_by=_text(values, "dedupe_by", who),
        version_by=_text(values, "version_by", who),
        delete_missing=_flag(values, "delete_missing", False, who),
        hard_delete=_text(values, "hard_delete", who),
        partition_expr=_partition_expr(values.get("partition_expr"), who),
        partition_by=_names(values, "partition_by", who),
        cluster_by=_names(values, "cluster_by", who),
        schema_evolution=_choice(values, "schema_evolution", "add_columns", EVOLUTIONS, who),
        create_table=_flag(values, "create_table", True, who),
        defer_empty_columns=_flag(values, "defer_empty_columns", False, who),
        column_mapping=_flag(values, "column_mapping", False, who),
        staging_url=_text(values, "staging_url", who) or defaults.staging_url,
        create_volume=_flag(values, "create_volume", defaults.create_volume, who),
        scd2=sql.Scd2Columns(
            _text(values, "scd2_valid_from", who) or default.valid_from,
            _text(values, "scd2_valid_to", who) or default.valid_to,
            _text(values, "scd2_row_hash", who) or default.row_hash,
        ),
        scd2_close_missing=_flag(values, "scd2_close_missing", True, who),
        table_stats=_flag(values, "table_stats", defaults.table_stats, who),
        change_data_feed=_flag(values, "change_data_feed", defaults.change_data_feed, who),
        foreign_writes=_choice(values, "foreign_writes", defaults.foreign_writes, FOREIGN_WRITES, who),
        foreign_writes_check=_choice(
            values, "foreign_writes_check", defaults.foreign_writes_check, FOREIGN_WRITES_CHECKS, who
        ),
        declared=_declared(values.get("dagster/column_schema"), who),
    )


def declared_keys(metadata: Mapping[str, Any], who: str) -> tuple[tuple[str, ...], dict[str, Declared]]:
    """The `primary_key` and `dagster/column_schema` of definition metadata, keys checked: what asset checks can
    know at definition time, before the IO manager's defaults are known."""
    values = {k: unwrap(v) for k, v in metadata.items()}
    _refuse_near_misses(values, ASSET_KEYS, who)
    return _names(values, "primary_key", who), _declared(values.get("dagster/column_schema"), who)


def for_output(context: OutputContext, defaults: Defaults) -> WriteRequest:
    """The request of one `handle_output`: the IO manager < definition metadata < output metadata."""
    who = describe(context)
    merged = {**(context.definition_metadata or {}), **(context.output_metadata or {})}
    settings = asset_settings(_path(context), merged, defaults, who)
    parts = tuple(_slices(context, settings))
    label = partition_label(context)
    spec = context.asset_spec if context.has_asset_key else None
    return WriteRequest(
        settings=settings,
        partitions=parts,
        partition_label=label,
        valid_at=_valid_at(context, settings, parts) if settings.mode == "scd2" else None,
        folder=_staging_folder(context, settings.ref, label),
        staging_url=require_staging_url(settings.staging_url),
        comment=spec.description if spec is not None else None,
        tags=_governance_tags(spec),
    )


def for_input(context: InputContext, defaults: Defaults) -> ReadRequest:
    """The request of one `load_input`: the upstream asset's settings, then what the input's metadata asks."""
    upstream = context.upstream_output
    if upstream is None:
        raise ValueError(f"{describe(context)} has no upstream output to read a table from.")
    settings = asset_settings(_path(upstream), upstream.definition_metadata or {}, defaults, describe(upstream))
    who = describe(context)
    wanted = {k: unwrap(v) for k, v in (context.definition_metadata or {}).items()}
    _refuse_near_misses(wanted, (*INPUT_KEYS, *ASSET_KEYS), who)
    columns = _names(wanted, "columns", who) or None
    history = _flag(wanted, "scd2_history", False, who)
    moment = None
    if is_snapshot(context, settings) and not history:
        moment = context.asset_partitions_time_window.end - dt.timedelta(microseconds=1)
    return ReadRequest(
        settings=settings,
        columns=columns,
        partitions=tuple(_slices(context, settings)),
        mapped_to_nothing=context.has_asset_partitions and not context.asset_partition_keys,
        scd2_history=history,
        scd2_moment=moment,
        changes=_changes(wanted, who),
    )


def _changes(wanted: Mapping[str, Any], who: str) -> ChangesWanted | None:
    since = wanted.get("changes_since")
    others = [k for k in ("changes_preimages", "changes_fallback") if k in wanted]
    if since is None:
        if others:
            raise ValueError(f"{who}: {others} apply to incremental inputs only: add 'changes_since': 'last_read'.")
        return None
    if since != "last_read" and (not isinstance(since, int) or isinstance(since, bool) or since < 0):
        raise ValueError(
            f"{who}: changes_since must be 'last_read' (the version this asset read last) or a table version "
            f"(an integer >= 0), not {since!r}."
        )
    return ChangesWanted(
        since=since,
        preimages=_flag(wanted, "changes_preimages", False, who),
        fallback=_choice(wanted, "changes_fallback", "error", CHANGE_FALLBACKS, who),
    )


def require_staging_url(url: str | None) -> str:
    if not url:
        raise ValueError(
            "DatabricksIOManager needs staging_url for this warehouse: an s3://, abfss:// or az:// prefix the "
            "warehouse can read, or a Unity Catalog Volume path /Volumes/<catalog>/<schema>/<volume>/<dir>."
        )
    return url


def is_snapshot(context: OutputContext | InputContext, settings: AssetSettings) -> bool:
    """An scd2 asset with time partitions and no `partition_expr`: each partition is a full snapshot, valid from
    the partition's start; reading a partition reads the versions valid at its end."""
    return (
        settings.mode == "scd2"
        and settings.partition_expr is None
        and context.has_asset_partitions
        and isinstance(context.asset_partitions_def, TimeWindowPartitionsDefinition)
    )


def describe(context: OutputContext | InputContext) -> str:
    if context.has_asset_key:
        return f"Asset {context.asset_key.to_user_string()!r}"
    return f"Output {context.name!r}"


def partition_label(context: OutputContext) -> str | None:
    if not context.has_partition_key:
        return None
    if context.has_asset_partitions:
        keys = context.asset_partition_keys
        return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"
    return context.partition_key


def _path(context: OutputContext) -> Sequence[str]:
    return context.asset_key.path if context.has_asset_key else [context.name]


def _slices(context: OutputContext | InputContext, settings: AssetSettings) -> list[PartitionSlice]:
    """The partitions written or read (none for a snapshot partition of an scd2 asset, or an input mapped to none)."""
    if not context.has_asset_partitions or not context.asset_partition_keys or is_snapshot(context, settings):
        return []
    return partitions.slices(
        settings.who, context.asset_partitions_def, context.asset_partition_keys, settings.partition_expr
    )


def _valid_at(context: OutputContext, settings: AssetSettings, parts: Sequence[PartitionSlice]) -> dt.datetime:
    """When scd2 changes take effect: the start of a time-partitioned asset's partition, else the run's start
    (the same for every retry of the step, so a retry changes nothing)."""
    window = next((p for p in parts if p.is_window), None)
    if window is not None and window.start is not None:
        return window.start
    if is_snapshot(context, settings):
        return context.asset_partitions_time_window.start
    try:
        record = context.step_context.instance.get_run_record_by_id(context.run_id)
        started = record.start_time if record is not None else None
    except DagsterInvariantViolationError:  # an output context built outside a run
        started = None
    return dt.datetime.fromtimestamp(started or time.time(), dt.timezone.utc)


def _staging_folder(context: OutputContext, ref: TableRef, label: str | None) -> str:
    """Retries and re-executions of the step share this folder: the root run's id, the step, the partition."""
    try:
        run = context.step_context.dagster_run
        root = run.root_run_id or run.run_id
    except DagsterInvariantViolationError:  # an output context built outside a run
        root = context.run_id
    return prefix_for(str(ref), root, context.step_key, label)


def _governance_tags(spec: Any) -> dict[str, str]:
    """The asset's tags (not Dagster's own dagster/* ones) and owners, as Unity Catalog table tags."""
    if spec is None:
        return {}
    tags = {k: str(v) for k, v in (spec.tags or {}).items() if not k.startswith("dagster/")}
    if spec.owners:
        tags["dagster_owners"] = ", ".join(spec.owners)
    return tags


def unwrap(value: Any) -> Any:
    """A metadata value as the plain value it holds."""
    return getattr(value, "value", value) if isinstance(value, MetadataValue) else value


def _normal(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch.isalnum())


def _near(a: str, b: str) -> bool:
    """Equal, or one edit apart (insert, delete, substitute, swap), for names long enough to tell."""
    if a == b:
        return True
    if len(b) < 6 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]])
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _refuse_near_misses(values: Mapping[str, Any], ours: Sequence[str], who: str) -> None:
    for key in values:
        if key in ours or "/" in key:  # ours, or namespaced (dagster/..., a library's own)
            continue
        match = next((o for o in ours if _near(_normal(key), _normal(o))), None)
        if match is not None:
            raise ValueError(
                f"{who}: metadata key {key!r} is not a DatabricksIOManager setting; did you mean {match!r}? "
                "Rename it (misspelt settings would otherwise be ignored)."
            )


def _choice(values: Mapping[str, Any], key: str, default: str, allowed: Sequence[str], who: str) -> str:
    value = values.get(key, default)
    if value not in allowed:
        raise ValueError(f"{who}: {key}={value!r} is not one of {list(allowed)}.")
    return value


def _text(values: Mapping[str, Any], key: str, who: str) -> str | None:
    value = values.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{who}: metadata {key!r} must be a non-empty string, not {value!r}.")
    return value


def _names(values: Mapping[str, Any], key: str, who: str) -> tuple[str, ...]:
    """A column list setting: one name, a sequence of names, or None (no columns)."""
    value = values.get(key)
    if value is None:
        return ()
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, Sequence) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"{who}: metadata {key!r} must be a column name or a list of them, not {value!r}.")
    return tuple(names)


def flag(value: Any, name: str) -> bool:
    """True/False, or the strings "true"/"false" in any case (the SuperAnnotate template's); anything else raises
    naming the setting."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{name} must be true or false, not {value!r}.")


def _flag(values: Mapping[str, Any], key: str, default: bool, who: str) -> bool:
    return flag(values.get(key, default), f"{who}: metadata {key!r}")


def _partition_expr(value: Any, who: str) -> str | Mapping[str, str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return dict(value)
    raise ValueError(
        f"{who}: partition_expr must be a column name or SQL expression (a dict of dimension -> column for "
        f"multi-partitions), not {value!r}."
    )


def _declared(schema: Any, who: str) -> dict[str, Declared]:
    """Lower-cased column name -> declared column from `dagster/column_schema`; a type that is not a Databricks SQL
    type raises naming the column."""
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
                    f"{who}: dagster/column_schema declares column {c.name!r} as {type_sql!r}, which is not a "
                    f"Databricks SQL type. Use one of {arrow.TYPE_NAMES}, DECIMAL(p,s), ARRAY<t>, MAP<k,v> or "
                    "STRUCT<name: t, ...>."
                ) from None
        nullable = not (c.constraints and c.constraints.nullable is False)
        declared[c.name.lower()] = Declared(c.name, type_sql, c.description, nullable)
    return declared
