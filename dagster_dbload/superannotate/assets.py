"""Dagster glue: the asset that loads annotations into a Delta table, and the sensor that asks for runs."""

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    DagsterRunStatus,
    DefaultSensorStatus,
    Output,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TableColumn,
    TableSchema,
    asset,
    sensor,
)
from pydantic import Field

from ..naming import TableRef
from ..request import Defaults, asset_settings, flag
from ..types import arrow_to_databricks
from .cursor import Cursor, advance, run_key, with_retried
from .extract import ITEM_COLUMNS, ITEM_DESCRIPTIONS, SuperAnnotateConfigError, column_mapping, to_table
from .sources import SAItem, SuperAnnotateSource, check_statuses

_RUN_KEY, _ATTEMPT = "superannotate/run_key", "superannotate/attempt"
_SETTINGS = "dbload/superannotate"  # definition metadata the sensor reads back from the asset


class SuperAnnotateItem(Config):
    """One item version, as the sensor saw it."""

    id: int
    name: str
    folder: str
    status: str
    updated_at: str


class SuperAnnotateRun(Config):
    """Which items to load; empty (the Materialize button) loads every item in the asset's statuses."""

    items: list[SuperAnnotateItem] = Field(default_factory=list, description="Item versions to load (the sensor).")
    item_ids: list[int] = Field(default_factory=list, description="Item ids to load, e.g. fired in Explore.")


def build_superannotate_asset(
    *,
    sa_component_ids: str | Sequence[str],
    databricks_columns: str | Sequence[str] | None = None,
    db_catalog: str = "main",
    db_schema: str = "superannotate",
    db_table: str = "annotations",
    db_volume: str | None = None,
    create_delta_table: bool | str = True,
    project: str | None = None,
    statuses: Sequence[str] = ("Completed",),
    batch_size: int = 500,
    column_types: Mapping[str, str] | None = None,
    key: AssetKey | Sequence[str] | None = None,
    group_name: str | None = "superannotate",
    source_key: str = "superannotate",
    io_manager_key: str = "io_manager",
    description: str | None = None,
    on_removed: str = "keep",
) -> AssetsDefinition:
    """An asset that merges annotation components, one typed column each, into one Delta table on sa_item_id.

    Parameters keep the SuperAnnotate action template's names: `sa_component_ids` map by position to
    `databricks_columns` (lists or comma-separated strings), the table is `db_catalog`.`db_schema`.`db_table`,
    `db_volume` stages the parquet in that Unity Catalog Volume, and `create_delta_table=False` makes a
    missing table an error. `column_types` declares a column's Databricks type (e.g. {"due": "DATE"});
    otherwise number components are DOUBLE and other types follow the values. Reads items through the
    resource at `source_key` (SuperAnnotateResource or LocalSuperAnnotateExport) and writes through the IO
    manager at `io_manager_key`. Run config loads `items` (the sensor's) or `item_ids` (Explore), read as they
    are when the run starts; none loads every item in `statuses`, and with `on_removed="delete"` that full load
    also deletes the rows of items no longer in `statuses` (or deleted) in the same MERGE.
    """
    mapping = column_mapping(sa_component_ids, databricks_columns, column_types)
    create = _config(lambda: flag(create_delta_table, "create_delta_table"))
    wanted = _config(lambda: check_statuses(statuses))
    if batch_size < 1:
        raise SuperAnnotateConfigError(f"batch_size={batch_size}: give a positive number of items per batch.")
    if on_removed not in ("keep", "delete"):
        raise SuperAnnotateConfigError(f"on_removed={on_removed!r}: use 'keep' or 'delete'.")
    ref = _config(lambda: TableRef(db_catalog, db_schema, db_table))
    metadata: dict[str, Any] = {
        "catalog": ref.catalog,
        "schema": ref.schema,
        "table": ref.table,
        "write_mode": "merge",
        "primary_key": ["sa_item_id"],
        "version_by": "sa_updated_at",  # an older item version never overwrites a newer one
        "defer_empty_columns": True,  # a component no item of a batch has does not decide its column's type
        "create_table": create,
        _SETTINGS: {"project": project, "statuses": wanted, "source_key": source_key},
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn(name, arrow_to_databricks(t).lower(), description=ITEM_DESCRIPTIONS[name])
                for name, t in ITEM_COLUMNS.items()
            ]
            + [
                TableColumn(
                    col,
                    mapping.declared.get(col, "?").lower(),
                    description=f"SuperAnnotate component {c!r}; column_types sets its type",
                )
                for c, col in zip(mapping.components, mapping.columns, strict=True)
            ]
        ),
    }
    if db_volume:
        volume = _config(lambda: TableRef(ref.catalog, ref.schema, db_volume))
        metadata["staging_url"] = f"/Volumes/{volume.catalog}/{volume.schema}/{volume.table}/superannotate"
        metadata["create_volume"] = create
    asset_key = AssetKey.from_coercible(key) if key is not None else AssetKey([ref.schema, ref.table])
    # the IO manager's settings, resolved as its loads will (write_mode is set here, so no default decides)
    _config(lambda: asset_settings(asset_key.path, metadata, Defaults(), f"Asset {asset_key.to_user_string()!r}"))

    @asset(
        key=asset_key,
        description=description or f"SuperAnnotate annotations ({', '.join(mapping.components)}) in {ref}.",
        metadata=metadata,
        group_name=group_name,
        io_manager_key=io_manager_key,
        required_resource_keys={source_key},
        kinds={"superannotate", "databricks"},
    )
    def _superannotate_asset(context: AssetExecutionContext, config: SuperAnnotateRun) -> Output[pa.Table]:
        source: SuperAnnotateSource = getattr(context.resources, source_key)
        name = source_project(source, project)
        ids = [i.id for i in config.items] + list(config.item_ids)
        if ids:  # as they are now: a run that starts late records the status and updatedAt it loads
            items = sorted(source.get_items(ids), key=lambda i: i.id)
            gone = sorted(set(ids) - {i.id for i in items})
            if gone:
                context.log.warning(f"SuperAnnotate items {gone} no longer exist; they are not loaded.")
        else:
            items = [i for page in source.list_items(wanted, None, batch_size) for i in page]
        annotations: dict[int, dict[str, Any]] = {}
        for start in range(0, len(items), batch_size):
            annotations.update(source.get_annotations([i.id for i in items[start : start + batch_size]]))
        missing = [i.id for i in items if i.id not in annotations]
        if missing:
            context.log.warning(f"SuperAnnotate returned no annotations for items {missing}; they are not loaded.")
        table = to_table(items, annotations, mapping, name)
        metadata = {"superannotate/project": name, "superannotate/items": table.num_rows,
                    "superannotate/missing": len(missing)}  # fmt: skip
        # the full load holds every item in `statuses`: with on_removed="delete", rows of others go in its MERGE
        full = not ids and on_removed == "delete" and not missing
        return Output(table, metadata={**metadata, **({"delete_missing": True} if full else {})})

    return _superannotate_asset


def build_superannotate_sensor(
    asset_def: AssetsDefinition,
    *,
    batch_size: int = 100,
    lookback_seconds: int = 300,
    minimum_interval_seconds: int = 30,
    name: str | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    max_attempts: int = 3,
) -> SensorDefinition:
    """A sensor that requests runs of `asset_def` for items whose updatedAt moved, `batch_size` items a run.

    Its cursor keeps a watermark on updatedAt; each tick lists items updated at or after the watermark minus
    `lookback_seconds` (SuperAnnotate's timestamps have second precision; SuperAnnotateResource has the server
    filter on status and updatedAt, so a tick reads what changed, not the project) and skips versions it already
    requested, so no item version is requested twice and items tying with the watermark are not lost. run_key is `project:item:updatedAt` (a digest of
    those for a batch), which Dagster also refuses to launch twice. The items of a run it requested that
    failed or was canceled are requested again (run_key `...:attempt-N`) until `max_attempts` runs failed;
    then the tick says it gave up.
    """
    settings = (asset_def.metadata_by_key[asset_def.key] or {}).get(_SETTINGS)
    settings = getattr(settings, "value", settings)
    if not isinstance(settings, Mapping):
        raise SuperAnnotateConfigError("build_superannotate_sensor needs an asset made by build_superannotate_asset.")
    if batch_size < 1:
        raise SuperAnnotateConfigError(f"batch_size={batch_size}: give a positive number of items per run.")
    if max_attempts < 1:
        raise SuperAnnotateConfigError(f"max_attempts={max_attempts}: give a positive number of runs per item batch.")
    lookback = timedelta(seconds=lookback_seconds)
    op_name = asset_def.op.name
    source_key = settings["source_key"]
    sensor_name = name or f"{op_name}_sensor"

    @sensor(
        name=sensor_name,
        target=asset_def,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={source_key},
        description=(
            f"Requests runs of {asset_def.key.to_user_string()} when SuperAnnotate items in "
            f"{_words(settings['statuses'])} change, {batch_size} item(s) a run. Its cursor holds a watermark (the "
            f"newest updatedAt seen) and the item versions it requested within the last {lookback_seconds} s "
            "(the lookback, for items whose updatedAt lands late); no item version is requested twice. To load "
            "items again, reset the cursor on this page (everything in those statuses is requested again) or "
            "materialize the asset, which loads every item in those statuses. The items of a failed or canceled "
            f"run are requested again, up to {max_attempts} runs in all."
        ),
    )
    def _superannotate_sensor(context: SensorEvaluationContext, **_: Any) -> SensorResult | SkipReason:
        source: SuperAnnotateSource = getattr(context.resources, source_key)
        project = source_project(source, settings["project"])
        cursor = Cursor.loads(context.cursor)
        since = cursor.since(lookback)
        seen = [i for page in source.list_items(settings["statuses"], since) for i in page]
        new, after = advance(cursor, seen, lookback)
        retries, handled, gave_up = _retries(context, cursor)
        after = with_retried(after, handled)
        given_up = f" Gave up on the items of run(s) {gave_up} after {max_attempts} failed runs." if gave_up else ""
        if gave_up:
            context.log.warning(given_up.strip())
        if not new and not retries:
            window = f"updated since {since.strftime('%Y-%m-%d %H:%M:%S %Z')}" if since else "in total"
            return SensorResult(
                skip_reason=SkipReason(
                    f"No new item versions in {project}: {len(seen)} item(s) with status "
                    f"{_words(settings['statuses'])} {window}, all already requested.{given_up}"
                ),
                cursor=after.dumps(),
            )
        requests = [
            _request(run_key(project, batch), [_config_item(i) for i in batch], project, 1)
            for batch in (new[i : i + batch_size] for i in range(0, len(new), batch_size))
        ]
        return SensorResult(run_requests=[*retries, *requests], cursor=after.dumps())

    def _request(key: str, items: list[dict[str, Any]], project: str, attempt: int) -> RunRequest:
        return RunRequest(
            run_key=key if attempt == 1 else f"{key}:attempt-{attempt}",
            run_config={"ops": {op_name: {"config": {"items": items}}}},
            tags={
                "superannotate/project": project,
                "superannotate/items": str(len(items)),
                _RUN_KEY: key,
                _ATTEMPT: str(attempt),
            },  # fmt: skip
            asset_selection=[asset_def.key],
        )

    def _retries(context: SensorEvaluationContext, cursor: Cursor) -> tuple[list[RunRequest], list[str], list[str]]:
        """Requests for the items of this sensor's failed or canceled runs; the run ids handled; those given up."""
        failed = context.instance.get_runs(
            filters=RunsFilter(
                tags={"dagster/sensor_name": sensor_name},
                statuses=[DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED],
            ),
            limit=100,
        )
        requests, handled, gave_up = [], [], []
        for run in reversed(failed):  # oldest first
            if run.run_id in cursor.retried or _RUN_KEY not in run.tags:
                continue
            handled.append(run.run_id)
            attempt = int(run.tags.get(_ATTEMPT, "1"))
            if attempt >= max_attempts:
                gave_up.append(run.run_id[:8])
                continue
            run_config: Mapping[str, Any] = run.run_config  # the config the sensor's request gave, as plain data
            items = run_config["ops"][op_name]["config"]["items"]
            requests.append(_request(run.tags[_RUN_KEY], items, run.tags["superannotate/project"], attempt + 1))
        return requests, handled, gave_up

    return _superannotate_sensor


def source_project(source: SuperAnnotateSource, project: str | None) -> str:
    """The project the resource reads; a different `project` given to the builder is a config error."""
    actual = source.project_name
    if project and project != actual:
        raise SuperAnnotateConfigError(
            f"This SuperAnnotate asset is for project {project!r} but its resource reads {actual!r}; set the "
            "resource's `project` to match."
        )
    return actual


def _words(names: Sequence[str]) -> str:
    """'Completed', 'QualityCheck or Completed': names as a sentence says them."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _config_item(item: SAItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "folder": item.folder,
        "status": item.status,
        "updated_at": item.updated_at,
    }


def _config(build: Any) -> Any:
    try:
        return build()
    except SuperAnnotateConfigError:
        raise
    except ValueError as e:
        raise SuperAnnotateConfigError(str(e)) from None
