"""What tools list: `<catalog>.information_schema` views and the JDBC listings behind the Thrift metadata calls
(`cursor.catalogs() / schemas() / tables() / columns()`, type info, functions, primary and foreign keys)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pyarrow as pa

from .catalog import Catalog, Column, ForeignKey, TableMeta
from .columns import display_type
from .context import USER

_S, _I, _I16, _TS = pa.string(), pa.int32(), pa.int16(), pa.timestamp("us", "Etc/UTC")

# JDBC java.sql.Types codes, as Databricks' Thrift server reports them
_JDBC = {
    "boolean": 16, "tinyint": -6, "smallint": 5, "int": 4, "bigint": -5, "float": 6, "double": 8,
    "decimal": 3, "string": 12, "binary": -2, "date": 91, "timestamp": 93, "timestamp_ntz": 93,
    "array": 2003, "map": 2000, "struct": 2002, "variant": 1111, "void": 0, "interval": 12,
}  # fmt: skip
_SIZES = {"boolean": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "float": 4, "double": 8, "date": 4,
          "timestamp": 8, "timestamp_ntz": 8}  # fmt: skip


def like(pattern: str | None, value: str) -> bool:
    """A JDBC/Databricks name pattern: `%` or `*` any text, `_` one character, backslash escapes; no case."""
    if pattern is None or pattern in ("", "%", "*"):
        return True
    regex = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 1
        elif ch in "%*":
            regex += ".*"
        elif ch == "_":
            regex += "."
        elif ch == "|":
            regex += "|"
        else:
            regex += re.escape(ch)
        i += 1
    return re.fullmatch(regex, value, re.I) is not None


def base_type(type_sql: str) -> str:
    """`decimal(18,2)` -> `decimal`, `array<int>` -> `array`."""
    return re.split(r"[<(]", display_type(type_sql), maxsplit=1)[0]


def _precision_scale(type_sql: str) -> tuple[int | None, int | None]:
    m = re.match(r"decimal\((\d+),(\d+)\)", display_type(type_sql))
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def _type_name(type_sql: str) -> str:
    """TYPE_NAME as Databricks' GetColumns gives it: `INT`, `DECIMAL(18,2)`, `STRUCT<name: STRING, age: INT>`."""
    return re.sub(r"DECIMAL\((\d+),\s*(\d+)\)", r"DECIMAL(\1,\2)", type_sql)


def _table(columns: dict[str, pa.DataType], rows: list[tuple]) -> pa.Table:
    names = list(columns)
    return pa.table({n: pa.array([r[i] for r in rows], columns[n]) for i, n in enumerate(names)})


def volumes(volumes_root: str, catalog: str) -> Iterator[tuple[str, str]]:
    """(schema, volume) for each volume folder of a catalog."""
    base = os.path.join(volumes_root, catalog)
    for schema in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        for volume in sorted(os.listdir(os.path.join(base, schema))):
            if os.path.isdir(os.path.join(base, schema, volume)):
                yield schema, volume


# information_schema: Databricks' column names; views of features the local warehouse lacks are empty
_VIEWS: dict[str, dict[str, pa.DataType]] = {
    "catalogs": {"catalog_name": _S, "catalog_owner": _S, "comment": _S, "created": _TS, "created_by": _S,
                 "last_altered": _TS, "last_altered_by": _S},
    "information_schema_catalog_name": {"catalog_name": _S},
    "schemata": {"catalog_name": _S, "schema_name": _S, "schema_owner": _S, "comment": _S, "created": _TS,
                 "created_by": _S, "last_altered": _TS, "last_altered_by": _S},
    "tables": {"table_catalog": _S, "table_schema": _S, "table_name": _S, "table_type": _S,
               "is_insertable_into": _S, "commit_action": _S, "table_owner": _S, "comment": _S, "created": _TS,
               "created_by": _S, "last_altered": _TS, "last_altered_by": _S, "data_source_format": _S,
               "storage_sub_directory": _S},
    "columns": {"table_catalog": _S, "table_schema": _S, "table_name": _S, "column_name": _S,
                "ordinal_position": _I, "column_default": _S, "is_nullable": _S, "full_data_type": _S,
                "data_type": _S, "character_maximum_length": pa.int64(), "character_octet_length": pa.int64(),
                "numeric_precision": _I, "numeric_precision_radix": _I, "numeric_scale": _I,
                "datetime_precision": _I, "interval_type": _S, "interval_precision": _I,
                "maximum_cardinality": pa.int64(), "is_identity": _S, "identity_generation": _S,
                "identity_start": _S, "identity_increment": _S, "identity_maximum": _S, "identity_minimum": _S,
                "identity_cycle": _S, "is_system_time_period_start": _S, "is_system_time_period_end": _S,
                "system_time_period_timestamp_generation": _S, "is_updatable": _S, "partition_index": _I,
                "comment": _S},
    "views": {"table_catalog": _S, "table_schema": _S, "table_name": _S, "view_definition": _S,
              "check_option": _S, "is_updatable": _S, "is_insertable_into": _S, "sql_path": _S,
              "is_materialized": _S},
    "volumes": {"volume_catalog": _S, "volume_schema": _S, "volume_name": _S, "volume_type": _S,
                "volume_owner": _S, "comment": _S, "storage_location": _S, "created": _TS, "created_by": _S,
                "last_altered": _TS, "last_altered_by": _S},
    "table_constraints": {"constraint_catalog": _S, "constraint_schema": _S, "constraint_name": _S,
                          "table_catalog": _S, "table_schema": _S, "table_name": _S, "constraint_type": _S,
                          "is_deferrable": _S, "initially_deferred": _S, "enforced": _S, "nulls_distinct": _S},
    "key_column_usage": {"constraint_catalog": _S, "constraint_schema": _S, "constraint_name": _S,
                         "table_catalog": _S, "table_schema": _S, "table_name": _S, "column_name": _S,
                         "ordinal_position": _I, "position_in_unique_constraint": _I},
    "constraint_column_usage": {"table_catalog": _S, "table_schema": _S, "table_name": _S, "column_name": _S,
                                "constraint_catalog": _S, "constraint_schema": _S, "constraint_name": _S},
    "constraint_table_usage": {"table_catalog": _S, "table_schema": _S, "table_name": _S,
                               "constraint_catalog": _S, "constraint_schema": _S, "constraint_name": _S},
    "referential_constraints": {"constraint_catalog": _S, "constraint_schema": _S, "constraint_name": _S,
                                "unique_constraint_catalog": _S, "unique_constraint_schema": _S,
                                "unique_constraint_name": _S, "match_option": _S, "update_rule": _S,
                                "delete_rule": _S},
    "catalog_tags": {"catalog_name": _S, "tag_name": _S, "tag_value": _S},
    "schema_tags": {"catalog_name": _S, "schema_name": _S, "tag_name": _S, "tag_value": _S},
    "table_tags": {"catalog_name": _S, "schema_name": _S, "table_name": _S, "tag_name": _S, "tag_value": _S},
    "column_tags": {"catalog_name": _S, "schema_name": _S, "table_name": _S, "column_name": _S, "tag_name": _S,
                    "tag_value": _S},
    "volume_tags": {"catalog_name": _S, "schema_name": _S, "volume_name": _S, "tag_name": _S, "tag_value": _S},
    "row_filters": {"table_catalog": _S, "table_schema": _S, "table_name": _S, "filter_name": _S,
                    "target_columns": _S},
    "column_masks": {"table_catalog": _S, "table_schema": _S, "table_name": _S, "column_name": _S,
                     "mask_name": _S, "using_columns": _S},
    "table_privileges": {"grantor": _S, "grantee": _S, "table_catalog": _S, "table_schema": _S,
                         "table_name": _S, "privilege_type": _S, "is_grantable": _S, "inherited_from": _S},
}  # fmt: skip


def information_schema_views() -> list[str]:
    return sorted(_VIEWS)


def information_schema(meta: Catalog, volumes_root: str, catalog: str, view: str) -> pa.Table | None:
    """One `<catalog>.information_schema` view as a table, or None when there is no such view."""
    columns = _VIEWS.get(view.lower())
    if columns is None:
        return None
    tables = meta.all_tables(catalog)
    rows: list[tuple] = []
    view = view.lower()
    if view == "catalogs":
        rows = [(c, USER, None, None, USER, None, USER) for c in meta.catalogs()]
    elif view == "information_schema_catalog_name":
        rows = [(catalog,)]
    elif view == "schemata":
        names = [*meta.schemas(catalog), "information_schema"]
        rows = [(catalog, s, USER, None, None, USER, None, USER) for s in sorted(names)]
    elif view == "tables":
        rows = [
            (t.catalog, t.schema, t.name, t.kind, "NO" if t.is_view else "YES", "PRESERVE", USER, t.comment,
             None, USER, None, USER, None if t.is_view else t.format.upper(), None)
            for t in tables
        ]  # fmt: skip
    elif view == "columns":
        rows = [_information_column(t, i, c) for t in tables for i, c in enumerate(t.columns)]
    elif view == "views":
        rows = [
            (t.catalog, t.schema, t.name, t.view_text, "NONE", "NO", "NO", None, "FALSE") for t in tables if t.is_view
        ]
    elif view == "volumes":
        rows = [
            (catalog, s, v, "MANAGED", USER, None, os.path.join(volumes_root, catalog, s, v), None, USER, None,
             USER)
            for s, v in volumes(volumes_root, catalog)
        ]  # fmt: skip
    elif view == "table_constraints":
        rows = [
            (t.catalog, t.schema, name, t.catalog, t.schema, t.name, kind, "YES", "NO", "NO", "YES" if kind == "PRIMARY KEY" else None)
            for t in tables for name, kind, _, _ in _keys(t)
        ]  # fmt: skip
    elif view == "key_column_usage":
        rows = [
            (t.catalog, t.schema, name, t.catalog, t.schema, t.name, column, position, position if parent else None)
            for t in tables for name, _, columns, parent in _keys(t)
            for position, column in enumerate(columns, start=1)
        ]  # fmt: skip
    elif view == "constraint_column_usage":  # the columns a constraint uses: a foreign key's are its parent's
        rows = [
            (*(parent.parent if parent else (t.catalog, t.schema, t.name)), column, t.catalog, t.schema, name)
            for t in tables for name, _, columns, parent in _keys(t)
            for column in (parent.parent_columns if parent else columns)
        ]  # fmt: skip
    elif view == "referential_constraints":
        by_key = {t.key: t for t in tables}
        rows = [
            (t.catalog, t.schema, f.name, *f.parent[:2], getattr(by_key.get(f.parent_key), "primary_key_name", None),
             "FULL", "NO ACTION", "NO ACTION")
            for t in tables for f in t.foreign_keys
        ]  # fmt: skip
    elif view == "table_tags":
        rows = [(t.catalog, t.schema, t.name, k, v) for t in tables for k, v in sorted(t.tags.items())]
    elif view == "column_tags":
        rows = [
            (t.catalog, t.schema, t.name, c.name, k, v)
            for t in tables for c in t.columns for k, v in sorted(c.tags.items())
        ]  # fmt: skip
    elif view == "constraint_table_usage":
        rows = [
            (*(parent.parent if parent else (t.catalog, t.schema, t.name)), t.catalog, t.schema, name)
            for t in tables for name, _, _, parent in _keys(t)
        ]  # fmt: skip
    return _table(columns, rows)


def _keys(t: TableMeta) -> list[tuple[str, str, list[str], ForeignKey | None]]:
    """A table's constraints: (name, type, columns, the foreign key or None)."""
    keys = [(t.primary_key_constraint, "PRIMARY KEY", t.primary_key, None)] if t.primary_key else []
    return keys + [(f.name, "FOREIGN KEY", f.columns, f) for f in t.foreign_keys]


def _information_column(t: TableMeta, position: int, c: Column) -> tuple:
    kind = base_type(c.type)
    precision, scale = _precision_scale(c.type)
    numeric = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64, "float": 24, "double": 53}
    partition = t.partitioned_by.index(c.name) if c.name in t.partitioned_by else None
    return (
        t.catalog, t.schema, t.name, c.name, position, None, "YES" if c.nullable else "NO", display_type(c.type),
        kind.upper(), None, None, precision or numeric.get(kind), 10 if (precision or kind in numeric) else None,
        scale if precision else (0 if kind in numeric and kind not in ("float", "double") else None),
        None, None, None, None, "NO", None, None, None, None, None, None, "NO", "NO", None, "YES", partition,
        c.comment,
    )  # fmt: skip


# JDBC listings (GetCatalogs, GetSchemas, GetTables, GetColumns, GetTypeInfo, GetFunctions, GetPrimaryKeys,
# GetCrossReference)
def jdbc_catalogs(meta: Catalog) -> pa.Table:
    return _table({"TABLE_CAT": _S}, [(c,) for c in meta.catalogs()])


def jdbc_schemas(meta: Catalog, catalog: str | None, schema: str | None) -> pa.Table:
    rows = [
        (s, c)
        for c in meta.catalogs()
        if like(catalog, c)
        for s in sorted([*meta.schemas(c), "information_schema"])
        if like(schema, s)
    ]
    return _table({"TABLE_SCHEM": _S, "TABLE_CATALOG": _S}, rows)


def _matching(meta: Catalog, catalog: str | None, schema: str | None, table: str | None) -> list[TableMeta]:
    return [
        t
        for c in meta.catalogs()
        if like(catalog, c)
        for t in meta.all_tables(c)
        if like(schema, t.schema) and like(table, t.name)
    ]


def jdbc_tables(meta: Catalog, catalog: str | None, schema: str | None, table: str | None,
                types: list[str] | None) -> pa.Table:  # fmt: skip
    wanted = {t.upper() for t in types} if types else None
    rows = [
        (t.catalog, t.schema, t.name, "VIEW" if t.is_view else "TABLE", t.comment or "", None, None, None, None, None)
        for t in _matching(meta, catalog, schema, table)
        if wanted is None or ("VIEW" if t.is_view else "TABLE") in wanted
    ]
    columns = ["TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS", "TYPE_CAT", "TYPE_SCHEM",
               "TYPE_NAME", "SELF_REFERENCING_COL_NAME", "REF_GENERATION"]  # fmt: skip
    return _table(dict.fromkeys(columns, _S), rows)


def jdbc_columns(meta: Catalog, catalog: str | None, schema: str | None, table: str | None,
                 column: str | None) -> pa.Table:  # fmt: skip
    rows = []
    for t in _matching(meta, catalog, schema, table):
        for position, c in enumerate(t.columns, start=1):
            if not like(column, c.name):
                continue
            kind = base_type(c.type)
            precision, scale = _precision_scale(c.type)
            size = precision or _SIZES.get(kind) or (2147483647 if kind in ("string", "binary") else None)
            rows.append(
                (t.catalog, t.schema, t.name, c.name, _JDBC.get(kind, 1111), _type_name(c.type), size,
                 None, scale if precision else (6 if kind.startswith("timestamp") else None),
                 10 if precision or kind in _SIZES else None, 1 if c.nullable else 0, c.comment or "", None, None,
                 None, None, position, "YES" if c.nullable else "NO", None, None, None, None, "NO")
            )  # fmt: skip
    columns = {
        "TABLE_CAT": _S, "TABLE_SCHEM": _S, "TABLE_NAME": _S, "COLUMN_NAME": _S, "DATA_TYPE": _I, "TYPE_NAME": _S,
        "COLUMN_SIZE": _I, "BUFFER_LENGTH": pa.int8(), "DECIMAL_DIGITS": _I, "NUM_PREC_RADIX": _I, "NULLABLE": _I,
        "REMARKS": _S, "COLUMN_DEF": _S, "SQL_DATA_TYPE": _I, "SQL_DATETIME_SUB": _I, "CHAR_OCTET_LENGTH": _I,
        "ORDINAL_POSITION": _I, "IS_NULLABLE": _S, "SCOPE_CATALOG": _S, "SCOPE_SCHEMA": _S, "SCOPE_TABLE": _S,
        "SOURCE_DATA_TYPE": _I16, "IS_AUTO_INCREMENT": _S,
    }  # fmt: skip
    return _table(columns, rows)


def jdbc_type_info() -> pa.Table:
    names = ["BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL", "STRING", "BINARY",
             "DATE", "TIMESTAMP", "TIMESTAMP_NTZ", "ARRAY", "MAP", "STRUCT", "VARIANT", "VOID"]  # fmt: skip
    rows = []
    for name in names:
        kind = name.lower()
        numeric = kind in ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
        rows.append(
            (name, _JDBC[kind], 38 if kind == "decimal" else _SIZES.get(kind), "'" if kind == "string" else None,
             "'" if kind == "string" else None, "PRECISION,SCALE" if kind == "decimal" else None, 1,
             kind == "string", 3 if kind not in ("array", "map", "struct") else 0, not numeric, False, False, None,
             0, 38 if kind == "decimal" else 0, None, None, 10 if numeric else None)
        )  # fmt: skip
    columns = {
        "TYPE_NAME": _S, "DATA_TYPE": _I, "PRECISION": _I, "LITERAL_PREFIX": _S, "LITERAL_SUFFIX": _S,
        "CREATE_PARAMS": _S, "NULLABLE": _I16, "CASE_SENSITIVE": pa.bool_(), "SEARCHABLE": _I16,
        "UNSIGNED_ATTRIBUTE": pa.bool_(), "FIXED_PREC_SCALE": pa.bool_(), "AUTO_INCREMENT": pa.bool_(),
        "LOCAL_TYPE_NAME": _S, "MINIMUM_SCALE": _I16, "MAXIMUM_SCALE": _I16, "SQL_DATA_TYPE": _I,
        "SQL_DATETIME_SUB": _I, "NUM_PREC_RADIX": _I,
    }  # fmt: skip
    return _table(columns, rows)


def jdbc_functions(functions: list[str], catalog: str | None, schema: str | None, name: str | None) -> pa.Table:
    """Built-in functions (no catalog or schema, as Databricks lists them); no user-defined functions exist."""
    rows = [(None, None, f, "", 1, f) for f in sorted(functions) if like(name, f) and catalog in (None, "", "%")]
    columns = {"FUNCTION_CAT": _S, "FUNCTION_SCHEM": _S, "FUNCTION_NAME": _S, "REMARKS": _S, "FUNCTION_TYPE": _I,
               "SPECIFIC_NAME": _S}  # fmt: skip
    return _table(columns, rows)


def jdbc_primary_keys(meta: Catalog, catalog: str | None, schema: str | None, table: str | None) -> pa.Table:
    rows = [
        (t.catalog, t.schema, t.name, name, seq, t.primary_key_name)
        for t in _matching(meta, catalog, schema, table)
        for seq, name in enumerate(t.primary_key, start=1)
    ]
    columns = {"TABLE_CAT": _S, "TABLE_SCHEM": _S, "TABLE_NAME": _S, "COLUMN_NAME": _S, "KEY_SEQ": _I, "PK_NAME": _S}
    return _table(columns, rows)


def jdbc_cross_reference(meta: Catalog, parent: tuple[str | None, ...], child: tuple[str | None, ...]) -> pa.Table:
    """Foreign keys between the `parent` and `child` (catalog, schema, table) patterns, one row per column."""
    names = ["PKTABLE_CAT", "PKTABLE_SCHEM", "PKTABLE_NAME", "PKCOLUMN_NAME", "FKTABLE_CAT", "FKTABLE_SCHEM",
             "FKTABLE_NAME", "FKCOLUMN_NAME", "KEY_SEQ", "UPDATE_RULE", "DELETE_RULE", "FK_NAME", "PK_NAME",
             "DEFERRABILITY"]  # fmt: skip
    ints = {"KEY_SEQ", "UPDATE_RULE", "DELETE_RULE", "DEFERRABILITY"}
    parents = {t.key: t for t in _matching(meta, *parent)}
    rows = [
        (*f.parent, pc, t.catalog, t.schema, t.name, c, seq, 3, 3, f.name, parents[f.parent_key].primary_key_name, 7)
        for t in _matching(meta, *child)
        for f in t.foreign_keys
        if f.parent_key in parents
        for seq, (c, pc) in enumerate(zip(f.columns, f.parent_columns, strict=True), start=1)
    ]
    return _table({n: _I if n in ints else _S for n in names}, rows)
