"""Annotation components -> typed Arrow columns, the way the SuperAnnotate template's parameters name them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from dagster import Failure

from ..arrow import databricks_to_arrow
from ..naming import column_problem
from ..types import databricks_type_sql
from .sources import SAItem

#: Columns every row carries, with their types.
ITEM_COLUMNS: dict[str, pa.DataType] = {
    "sa_item_id": pa.int64(),
    "sa_item_name": pa.string(),
    "sa_folder": pa.string(),
    "sa_status": pa.string(),
    "sa_updated_at": pa.timestamp("us", "UTC"),
    "sa_project": pa.string(),
}


#: What each item column holds, for the asset's column schema.
ITEM_DESCRIPTIONS: dict[str, str] = {
    "sa_item_id": "SuperAnnotate item id (the merge key)",
    "sa_item_name": "Item name in SuperAnnotate",
    "sa_folder": "Folder of the item (root for the project's root)",
    "sa_status": "Annotation status of the item when it was loaded",
    "sa_updated_at": "When the item's annotation last changed (updatedAt), UTC",
    "sa_project": "SuperAnnotate project name",
}


class SuperAnnotateConfigError(ValueError):
    """The component-to-column mapping is wrong; the message names the fix."""


_RETRY = (
    "Once the annotation is fixed in SuperAnnotate its updatedAt changes and the sensor requests it again; after "
    "changing column_types, re-execute this run (or materialize the asset to load every item)."
)


class SuperAnnotateDataError(Failure, ValueError):
    """An annotation value does not fit its column: the run page shows the item, column, value and fix first."""

    def __init__(self, message: str, **metadata: Any):
        super().__init__(description=f"{message} {_RETRY}", metadata=metadata, allow_retries=False)


@dataclass(frozen=True)
class ColumnMapping:
    """Component ids mapped positionally to Databricks columns, with the types the user declared."""

    components: tuple[str, ...]
    columns: tuple[str, ...]
    declared: Mapping[str, str]  # column -> canonical Databricks type


def column_mapping(
    sa_component_ids: str | Sequence[str],
    databricks_columns: str | Sequence[str] | None = None,
    column_types: Mapping[str, str] | None = None,
) -> ColumnMapping:
    """Parse the template's two parameters (lists or comma-separated strings); errors name the fix."""
    components = _names(sa_component_ids)
    columns = _names(databricks_columns) if databricks_columns else components
    if not components:
        raise SuperAnnotateConfigError("sa_component_ids is empty: list the component ids to load.")
    if len(components) != len(columns):
        raise SuperAnnotateConfigError(
            f"sa_component_ids has {len(components)} entries and databricks_columns {len(columns)}; they map "
            f"by position, so give one column per component: {list(components)} -> {list(columns)}."
        )
    seen: dict[str, str] = {}
    for column in columns:
        problem = column_problem(column)
        if problem:
            raise SuperAnnotateConfigError(f"databricks_columns: {column!r} cannot name a Delta column: {problem}.")
        if column.lower() in ITEM_COLUMNS:
            raise SuperAnnotateConfigError(
                f"databricks_columns: {column!r} is reserved for item metadata ({', '.join(ITEM_COLUMNS)}); "
                "choose another name."
            )
        if column.lower() in seen:
            raise SuperAnnotateConfigError(
                f"databricks_columns: {seen[column.lower()]!r} and {column!r} name the same column (names are "
                "case-insensitive); give each component its own column."
            )
        seen[column.lower()] = column
    declared: dict[str, str] = {}
    for column, type_sql in (column_types or {}).items():
        if column.lower() not in seen:
            raise SuperAnnotateConfigError(
                f"column_types names {column!r}, which is not in databricks_columns {list(columns)}."
            )
        try:
            databricks_to_arrow(type_sql)
            declared[seen[column.lower()]] = databricks_type_sql(type_sql)
        except ValueError as e:
            raise SuperAnnotateConfigError(f"column_types[{column!r}]: {e}") from None
    return ColumnMapping(components, columns, declared)


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    return tuple(p.strip() for p in parts if str(p).strip())


def component_value(entry: Any) -> Any:
    """One component's value: `{"value": v}` -> v; inside a group (a list of values with element_path) -> the
    values in element_path order; absent -> None."""
    if entry is None:
        return None
    if isinstance(entry, list):
        rows = [e for e in entry if isinstance(e, dict)]
        rows.sort(
            key=lambda e: [str(p).zfill(12) if isinstance(p, int) else str(p) for p in e.get("element_path") or []]
        )
        return [e.get("value") for e in rows]
    if isinstance(entry, dict):
        return entry.get("value")
    return entry


def infer_type(values: Sequence[Any], column: str) -> pa.DataType:
    """The Arrow type of a column over the whole batch: text STRING, numbers BIGINT/DOUBLE, lists ARRAY<...>."""
    present = [v for v in values if v is not None]
    if not present:  # no values yet: the table's type when it exists, else STRING
        return pa.null()
    if all(isinstance(v, list) for v in present):
        inner = infer_type([x for v in present for x in v], f"{column}[]")
        return pa.list_(pa.string() if pa.types.is_null(inner) else inner)
    if all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.float64()
    if all(isinstance(v, str) for v in present):
        return pa.string()
    kinds = sorted({type(v).__name__ for v in present})
    raise SuperAnnotateDataError(
        f"Column {column!r} holds values of different kinds across items ({', '.join(kinds)}); declare its type, "
        f"e.g. column_types={{{column!r}: 'STRING'}}.",
        column=column,
        kinds=", ".join(kinds),
    )


def to_table(
    items: Sequence[SAItem], annotations: Mapping[int, Mapping[str, Any]], mapping: ColumnMapping, project: str
) -> pa.Table:
    """One row per item: item metadata plus one typed column per mapped component (missing -> NULL)."""
    kept = [i for i in items if i.id in annotations]
    metadata = {
        "sa_item_id": [i.id for i in kept],
        "sa_item_name": [i.name for i in kept],
        "sa_folder": [i.folder for i in kept],
        "sa_status": [i.status for i in kept],
        "sa_updated_at": [i.updated for i in kept],
        "sa_project": [project] * len(kept),
    }
    columns = {name: pa.array(metadata[name], dtype) for name, dtype in ITEM_COLUMNS.items()}
    for component, column in zip(mapping.components, mapping.columns, strict=True):
        values = [component_value(annotations[i.id].get(component)) for i in kept]
        declared = mapping.declared.get(column)
        columns[column] = _typed(values, column, declared, kept)
    return pa.table(columns)


def _doubles(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_int64(dtype):
        return pa.float64()
    return pa.list_(_doubles(dtype.value_type)) if pa.types.is_list(dtype) else dtype


def _typed(values: list[Any], column: str, declared: str | None, items: Sequence[SAItem]) -> pa.Array:
    if declared == "STRING":  # numbers and lists declared as text keep their JSON form: 4 -> '4'
        values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    natural = infer_type(values, column)
    # a number component is DOUBLE unless column_types says BIGINT: one batch's integers must not fix the type
    target = databricks_to_arrow(declared) if declared else _doubles(natural)
    try:
        return pa.array(values, natural).cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        for value, item in zip(values, items, strict=True):
            try:
                pa.array([value]).cast(target)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                raise SuperAnnotateDataError(
                    f"Column {column!r}: item {item.id} ({item.name!r}) has {value!r}, which is not "
                    f"{declared or target}. Fix the annotation or declare another type in column_types.",
                    item_id=item.id,
                    item_name=item.name,
                    column=column,
                    value=repr(value),
                    expected=str(declared or target),
                ) from None
        raise
