"""DDL: catalogs, schemas, volumes, tables and their columns, USE."""

from __future__ import annotations

import dataclasses
import os
import re

from sqlglot import exp

from ..types import databricks_to_duckdb, fits, parse_type
from .catalog import (
    Column,
    ForeignKey,
    TableMeta,
    check_name,
    identity_default,
    identity_sequence,
    quote_dbx,
    quote_duck,
    table_key,
)
from .columns import check_columns, column_def, dbx_type
from .common import (
    Result,
    already_exists,
    fail,
    no_catalog,
    syntax_error,
    table_arg,
    unresolved_column,
)
from .context import Context
from .errors import LocalSQLError, schema_not_found, unsupported
from .reads import Reads

_DROP_KEY = re.compile(
    r"\s*ALTER\s+TABLE\s+(\S+)\s+DROP\s+(PRIMARY\s+KEY|FOREIGN\s+KEY)\s*(IF\s+EXISTS\s*)?(?:\((.*)\))?\s*"
    r"(RESTRICT|CASCADE)?\s*;?\s*",
    re.I | re.S,
)


class Ddl:
    """CREATE, ALTER, DROP and USE."""

    def __init__(self, ctx: Context, reads: Reads):
        self.ctx, self.reads = ctx, reads

    def create_catalog(self, body: str) -> Result:
        m = re.fullmatch(r"CREATE\s+CATALOG\s+(IF\s+NOT\s+EXISTS\s+)?(.+?)(\s+COMMENT\s+.*)?", body, re.I | re.S)
        if not m:
            raise syntax_error(body)
        name = check_name(table_arg(m.group(2)).name, "catalog")
        if self.ctx.meta.catalog_exists(name):
            return already_exists("CATALOG", f"catalog {quote_dbx(name)}", bool(m.group(1)), "42P04")
        with self.ctx.transaction():
            self.ctx.meta.create_catalog(name)
            self.ctx.meta.create_schema(name, "default")
        return Result()

    def create_volume(self, body: str) -> Result:
        m = re.fullmatch(r"CREATE\s+(?:EXTERNAL\s+)?VOLUME\s+(IF\s+NOT\s+EXISTS\s+)?(\S+)(\s+.*)?", body, re.I | re.S)
        if not m:
            raise syntax_error(body)
        catalog, schema, volume = self.ctx.resolve(table_arg(m.group(2)))
        self.ctx.meta.require_schema(catalog, schema)
        path = self.ctx.files.volume_dir(catalog, schema, volume)
        if os.path.isdir(path):
            return already_exists("VOLUME", f"volume {quote_dbx(catalog, schema, volume)}", bool(m.group(1)), "42000")
        os.makedirs(path, exist_ok=True)
        return Result()

    def create(self, e: exp.Create) -> Result:
        kind = str(e.args.get("kind", "")).upper()
        if kind in ("SCHEMA", "DATABASE"):
            return self._create_schema(e)
        if kind == "VIEW":
            return self._create_view(e)
        if kind != "TABLE":
            raise unsupported(f"CREATE {kind}")
        target = e.this.this if isinstance(e.this, exp.Schema) else e.this
        catalog, schema, name = self.ctx.resolve(target)
        self.ctx.meta.require_schema(catalog, schema)
        existing = self.ctx.meta.get_table(catalog, schema, name)
        if existing is not None and not e.args.get("replace"):
            return already_exists(
                "TABLE_OR_VIEW", f"table or view {existing.display}", bool(e.args.get("exists")), "42P07"
            )
        meta = TableMeta(catalog, schema, name)
        identity_starts: dict[str, int] = {}
        self._apply_properties(meta, e.args.get("properties"))
        clone = self.ctx.lookup(e.args["clone"].this) if e.args.get("clone") else None
        if clone is not None:  # [SHALLOW | DEEP] CLONE: the source's columns, layout, properties and rows
            if clone.is_view:
                raise LocalSQLError("EXPECT_TABLE_NOT_VIEW.NO_ALTERNATIVE", f"CLONE expects a table, {clone.display} is a view.", "42809")  # fmt: skip
            meta.columns = [
                dataclasses.replace(c, tags=dict(c.tags), identity=dict(c.identity) if c.identity else None)
                for c in clone.columns
            ]
            # its identity columns go on from where the source's stand, as the copied rows hold their values
            identity_starts = {c.name: self.ctx.meta.identity_next(c) for c in clone.columns if c.identity}
            meta.partitioned_by, meta.clustered_by = list(clone.partitioned_by), list(clone.clustered_by)
            meta.properties = {**clone.properties, **meta.properties}
            meta.comment = meta.comment or clone.comment
            meta.primary_key, meta.primary_key_name = list(clone.primary_key), clone.primary_key_name
        if isinstance(e.this, exp.Schema):
            meta.columns = [column_def(c) for c in e.this.expressions if isinstance(c, exp.ColumnDef)]
            for definition in e.this.expressions:
                if isinstance(definition, exp.ColumnDef):
                    for constraint in definition.args.get("constraints", []):
                        if isinstance(constraint.kind, (exp.PrimaryKeyColumnConstraint, exp.Reference)):
                            self._add_constraint(meta, constraint, definition.name)
                elif isinstance(definition, (exp.Constraint, exp.PrimaryKey, exp.ForeignKey)):
                    self._add_constraint(meta, definition)
        check_columns(meta)
        for key in ("partitioned_by", "clustered_by"):
            for col in [] if getattr(meta, key) == ["AUTO"] else getattr(meta, key):
                if e.expression is None and meta.column(col) is None:
                    raise unresolved_column(col, meta)
        operation = ("CREATE OR REPLACE TABLE" if existing else "CREATE TABLE") + (
            " AS SELECT" if e.expression is not None else ""
        )
        if clone is not None:
            operation = ("SHALLOW " if e.args["clone"].args.get("shallow") else "") + "CLONE"
        with self.ctx.transaction():
            if existing is not None:
                meta.id, meta.version, meta.created_at = existing.id, existing.version, existing.created_at
                self.ctx.meta.drop_table(existing, keep_history=True)
            metrics: dict[str, int] = {}
            if e.expression is not None:
                self.ctx.con.execute(f"CREATE TABLE {meta.duck} AS {self.reads.to_duckdb(e.expression)}")
                schema_ = self.ctx.con.sql(f"SELECT * FROM {meta.duck} LIMIT 0").to_arrow_table().schema
                meta.columns = [Column(f.name, dbx_type(f)) for f in schema_]
                check_columns(meta)
                metrics["numOutputRows"] = self.ctx.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0]
                self.ctx.changes.record(meta, "insert")
            elif meta.columns:
                self._create_duck_table(meta, identity_starts)
                if clone is not None:
                    copied = self.ctx.con.execute(f"INSERT INTO {meta.duck} SELECT * FROM {clone.duck}").fetchall()[0][
                        0
                    ]
                    metrics = {"numCopiedRows": copied, "sourceTableSize": copied}
                    self.ctx.changes.record(meta, "insert")
            self.ctx.meta.commit(meta, operation, {"isManaged": "true", "description": meta.comment}, metrics)
        return Result()

    def _create_view(self, e: exp.Create) -> Result:
        """CREATE [OR REPLACE] [TEMPORARY] VIEW [IF NOT EXISTS] v [(cols)] AS query: table names in the query are
        resolved now, as Databricks does; temporary views live in the session."""
        target = e.this.this if isinstance(e.this, exp.Schema) else e.this
        properties = e.args["properties"].expressions if e.args.get("properties") else []
        temporary = any(isinstance(p, exp.TemporaryProperty) for p in properties)
        query = e.expression.copy()
        if isinstance(query, exp.Values):  # AS VALUES (..) [t(a, b)]: its columns are a, b or col1, col2, ...
            alias = query.args.get("alias")
            if alias is None or not alias.columns:
                first = query.expressions[0] if query.expressions else None
                width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
                names = [exp.to_identifier(f"col{i + 1}") for i in range(width)]
                name = alias.this if alias is not None else exp.to_identifier("values", quoted=True)
                query.set("alias", exp.TableAlias(this=name, columns=names))
            query = exp.select("*").from_(query)
        ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
        for table in query.find_all(exp.Table):
            plain = not isinstance(table.this, exp.Func) and table.db.lower() not in ("parquet", "information_schema")
            if plain and not (
                not table.db and (table.name.lower() in ctes or table.name.lower() in self.ctx.temp_views)
            ):
                catalog, schema, name = self.ctx.resolve(table)
                table.set("this", exp.to_identifier(name, quoted=True))
                table.set("db", exp.to_identifier(schema, quoted=True))
                table.set("catalog", exp.to_identifier(catalog, quoted=True))
        used = self.ctx.variables.referenced(query, self.reads.source_columns) if self.ctx.variables else []
        if used and not temporary:
            raise LocalSQLError(
                "INVALID_TEMP_OBJ_REFERENCE",
                f"Cannot create the persistent view {target.name} because it references the temporary variable "
                f"`{used[0]}`. Make the view temporary, or pass the value in.",
                "42K0F",
            )
        fields = self.reads.source_schema(query)
        columns = [Column(f.name, dbx_type(f)) for f in fields]
        if isinstance(e.this, exp.Schema):
            given = [column_def(c, typed=False) for c in e.this.expressions]
            if len(given) != len(columns):
                raise LocalSQLError("CREATE_VIEW_COLUMN_ARITY_MISMATCH", f"The view declares {len(given)} columns but its query returns {len(columns)}.", "21S01")  # fmt: skip
            columns = [Column(g.name, c.type, g.comment) for g, c in zip(given, columns, strict=True)]
            query = exp.select(*[exp.column(f.name, quoted=True).as_(c.name, quoted=True) for f, c in zip(fields, columns, strict=True)]).from_(query.subquery("__view"))  # fmt: skip
        if temporary:
            name = check_name(target.name, "view")
            if name in self.ctx.temp_views and not e.args.get("replace"):
                return already_exists("TEMP_TABLE_OR_VIEW", f"temporary view {quote_dbx(name)}", bool(e.args.get("exists")), "42P07")  # fmt: skip
            self.ctx.temp_views[name] = TableMeta("", "", name, columns, kind="VIEW", view_text=query.sql("databricks"))
            return Result()
        catalog, schema, name = self.ctx.resolve(target)
        self.ctx.meta.require_schema(catalog, schema)
        existing = self.ctx.meta.get_table(catalog, schema, name)
        if existing is not None and not (e.args.get("replace") and existing.is_view):
            return already_exists("TABLE_OR_VIEW", f"table or view {existing.display}", bool(e.args.get("exists")), "42P07")  # fmt: skip
        meta = TableMeta(catalog, schema, name, columns, kind="VIEW", view_text=query.sql("databricks"))
        for prop in properties:
            if isinstance(prop, exp.SchemaCommentProperty):
                meta.comment = prop.this.name
        self.ctx.meta.save_table(meta)
        return Result()

    def _add_constraint(self, meta: TableMeta, constraint: exp.Expr, column: str | None = None) -> None:
        """An informational PRIMARY KEY or FOREIGN KEY (kept and reported, not enforced, as on Databricks), of
        the table or of its `column`; other constraints are refused."""
        named = isinstance(constraint, (exp.Constraint, exp.ColumnConstraint)) and constraint.this is not None
        name = constraint.name if named else None
        kind: exp.Expr | None
        if isinstance(constraint, exp.ColumnConstraint):
            kind = constraint.kind
        elif isinstance(constraint, (exp.PrimaryKey, exp.ForeignKey)):
            kind = constraint
        else:
            kind = constraint.find(exp.PrimaryKey, exp.ForeignKey)
        if name is not None:
            self._check_constraint_name(meta, name)
        if isinstance(kind, exp.PrimaryKeyColumnConstraint) and column is not None:
            self._add_primary_key(meta, name, [column])
        elif isinstance(kind, exp.PrimaryKey):
            self._add_primary_key(meta, name, [i.name for i in kind.expressions])
        elif isinstance(kind, exp.Reference) and column is not None:
            self._add_foreign_key(meta, name, [column], kind)
        elif isinstance(kind, exp.ForeignKey):
            self._add_foreign_key(meta, name, [i.name for i in kind.expressions], kind.args["reference"])
        else:
            raise unsupported(f"the constraint {constraint.sql('databricks')} (only PRIMARY KEY and FOREIGN KEY)")

    def _check_constraint_name(self, meta: TableMeta, name: str) -> None:
        """A constraint's name is unique within its schema."""
        others = [t for t in self.ctx.meta.all_tables(meta.catalog) if t.schema == meta.schema and t.key != meta.key]
        for table in [meta, *others]:
            if name.lower() in [n.lower() for n in table.constraint_names]:
                raise LocalSQLError(
                    "CONSTRAINT_ALREADY_EXISTS",
                    f"Constraint '{name}' already exists (on {table.display}). Please delete the existing "
                    "constraint first, or choose another name.",
                    "42710",
                )

    def _add_primary_key(self, meta: TableMeta, name: str | None, names: list[str]) -> None:
        if meta.primary_key:
            raise LocalSQLError("MULTIPLE_PRIMARY_KEYS", f"Table {meta.display} already has a primary key.", "42P16")
        for column_name in names:
            column = meta.column(column_name) or fail(unresolved_column(column_name, meta))
            if column.nullable:
                raise LocalSQLError(
                    "DELTA_NULLABLE_PRIMARY_KEY_COLUMN",
                    f"The PRIMARY KEY column {quote_dbx(column.name)} must be declared NOT NULL.",
                    "42831",
                )
        meta.primary_key = [(meta.column(n) or fail(unresolved_column(n, meta))).name for n in names]
        meta.primary_key_name = name or f"{meta.name}_pk"

    def _add_foreign_key(self, meta: TableMeta, name: str | None, names: list[str], reference: exp.Reference) -> None:
        """FOREIGN KEY (names) REFERENCES parent [(columns)]: all of the parent's primary key columns (its
        primary key when none are listed); the parent may be the table itself."""
        parent_ref = reference.this.this if isinstance(reference.this, exp.Schema) else reference.this
        listed = [i.name for i in reference.this.expressions] if isinstance(reference.this, exp.Schema) else []
        columns = [(meta.column(n) or fail(unresolved_column(n, meta))).name for n in names]
        parent_name = list(self.ctx.resolve(parent_ref))
        parent = meta if table_key(*parent_name) == meta.key else self.ctx.lookup(parent_ref)
        if parent.is_view:
            raise LocalSQLError("EXPECT_TABLE_NOT_VIEW.NO_ALTERNATIVE", f"FOREIGN KEY expects a table, {parent.display} is a view.", "42809")  # fmt: skip
        referenced = [
            (parent.column(n) or fail(unresolved_column(n, parent))).name for n in listed or parent.primary_key
        ]
        if (
            not parent.primary_key
            or sorted(referenced) != sorted(parent.primary_key)
            or len(columns) != len(referenced)
        ):
            key = (
                f"PRIMARY KEY ({', '.join(quote_dbx(c) for c in parent.primary_key)})"
                if parent.primary_key
                else "no primary key"
            )
            raise LocalSQLError(
                "INVALID_PARAMETER_VALUE",
                f"A FOREIGN KEY references all the primary key columns of its parent table, one for each of its own "
                f"columns: {parent.display} has {key}. Add a primary key to the parent or list its columns.",
                "22023",
            )
        fk_name = name or f"{meta.name}_{parent.name}_fk"  # as Databricks names it
        meta.foreign_keys.append(ForeignKey(fk_name, columns, parent_name, referenced))

    def _drop_constraint(self, meta: TableMeta, name: str | None, exists: bool, cascade: bool, kind: str = "",
                         columns: list[str] | None = None) -> None:  # fmt: skip
        """ALTER TABLE t DROP CONSTRAINT name / DROP PRIMARY KEY / DROP FOREIGN KEY (cols) [IF EXISTS]
        [RESTRICT | CASCADE]: a primary key other tables reference goes only with CASCADE, which drops theirs."""
        if kind == "PRIMARY KEY" or (name and meta.primary_key and name.lower() == meta.primary_key_constraint.lower()):
            if not meta.primary_key:
                if exists:
                    return
                raise LocalSQLError("CONSTRAINT_DOES_NOT_EXIST", f"Table {meta.display} has no primary key.", "42704")
            children = [t for t in self.ctx.meta.all_tables() if any(f.parent_key == meta.key for f in t.foreign_keys)]
            if children and not cascade:
                raise LocalSQLError(
                    "INVALID_PARAMETER_VALUE",
                    f"The primary key {quote_dbx(meta.primary_key_constraint)} is referenced by FOREIGN KEYs of "
                    f"{', '.join(t.display for t in children)}: drop it with CASCADE to drop those too.",
                    "22023",
                )
            for child in children:
                child = meta if child.key == meta.key else child
                child.foreign_keys = [f for f in child.foreign_keys if f.parent_key != meta.key]
                if child is not meta:
                    self.ctx.meta.commit(child, "DROP CONSTRAINT", {"cascade": "true"}, {})
            meta.primary_key, meta.primary_key_name = [], None
            return
        kept = [
            f for f in meta.foreign_keys
            if not (f.name.lower() == (name or "").lower() or (columns and [c.lower() for c in f.columns] == columns))
        ]  # fmt: skip
        if len(kept) == len(meta.foreign_keys) and not exists:
            raise LocalSQLError(
                "CONSTRAINT_DOES_NOT_EXIST", f"Constraint '{name or ', '.join(columns or [])}' does not exist on {meta.display}.", "42704"
            )  # fmt: skip
        meta.foreign_keys = kept

    def drop_key(self, body: str) -> Result | None:
        """ALTER TABLE t DROP PRIMARY KEY / DROP FOREIGN KEY [IF EXISTS] (cols) [RESTRICT | CASCADE], which
        sqlglot does not parse; None for other statements."""
        m = _DROP_KEY.fullmatch(body)
        if not m:
            return None
        meta = self.ctx.lookup(table_arg(m.group(1)))
        kind = " ".join(m.group(2).upper().split())
        columns = [c.strip().strip("`").lower() for c in (m.group(4) or "").split(",") if c.strip()]
        with self.ctx.transaction():
            self._drop_constraint(meta, None, bool(m.group(3)), (m.group(5) or "").upper() == "CASCADE", kind, columns)
            self.ctx.meta.commit(meta, "DROP CONSTRAINT", {"kind": kind}, {})
        return Result()

    def comment(self, e: exp.Comment) -> Result:
        """COMMENT ON TABLE t IS '..' / COMMENT ON COLUMN t.c IS '..' (NULL removes it)."""
        kind = str(e.args.get("kind", "")).upper()
        text = None if isinstance(e.expression, exp.Null) else e.expression.name
        if kind in ("TABLE", "VIEW"):
            meta = self.ctx.lookup(e.this)
            meta.comment = text
        elif kind == "COLUMN":
            column_ref = e.this
            table = exp.Table(
                this=column_ref.args["table"], db=column_ref.args.get("db"), catalog=column_ref.args.get("catalog")
            )
            meta = self.ctx.lookup(table)
            column = meta.column(column_ref.name) or fail(unresolved_column(column_ref.name, meta))
            column.comment = text
        else:
            raise unsupported(f"COMMENT ON {kind}")
        with self.ctx.transaction():
            if meta.is_view:
                self.ctx.meta.save_table(meta)
            else:
                self.ctx.meta.commit(
                    meta, "SET TBLPROPERTIES" if kind == "TABLE" else "CHANGE COLUMN", {"comment": text}, {}
                )
        return Result()

    def tags(self, body: str) -> Result:
        """ALTER TABLE t [ALTER COLUMN c] SET TAGS ('k' = 'v', 'k2') / UNSET TAGS ('k'): kept in the catalog,
        shown in information_schema.table_tags / column_tags; a tag change is not a Delta commit."""
        m = re.fullmatch(
            r"ALTER\s+(?:TABLE|VIEW)\s+(\S+)\s+(?:(?:ALTER|CHANGE)\s+(?:COLUMN\s+)?(`(?:[^`]|``)+`|\w+)\s+)?"
            r"(SET|UNSET)\s+TAGS\s*\((.*)\)",
            body,
            re.I | re.S,
        )
        if not m:
            raise syntax_error(body, body)
        meta = self.ctx.lookup(table_arg(m.group(1)))
        tags = meta.tags
        if m.group(2):
            column = m.group(2)[1:-1].replace("``", "`") if m.group(2)[0] == "`" else m.group(2)
            tags = (meta.column(column) or fail(unresolved_column(column, meta))).tags
        items = re.findall(r"'((?:[^'\\]|\\.)*)'(?:\s*=\s*'((?:[^'\\]|\\.)*)')?", m.group(4))
        if not items:
            raise syntax_error(body, body)
        for key, value in items:
            if m.group(3).upper() == "SET":
                tags[key] = value
            else:
                tags.pop(key, None)
        self.ctx.meta.save_table(meta)
        return Result()

    def _create_duck_table(self, meta: TableMeta, identity_starts: dict[str, int] | None = None) -> None:
        """The DuckDB table of `meta`, its identity columns on new sequences (from their START WITH, or from
        `identity_starts`)."""
        cols = ", ".join(
            f"{quote_duck(c.name)} {databricks_to_duckdb(c.type)}{'' if c.nullable else ' NOT NULL'}"
            + (f" {self._identity_sequence(meta, c, (identity_starts or {}).get(c.name))}" if c.identity else "")
            for c in meta.columns
        )
        self.ctx.con.execute(f"CREATE TABLE {meta.duck} ({cols})")

    def _identity_sequence(self, meta: TableMeta, column: Column, first: int | None) -> str:
        """A new DuckDB sequence for an identity column; returns the column's DEFAULT clause."""
        identity = column.identity_settings
        identity["sequence"] = [f"{meta.catalog}.{meta.schema}", f"{meta.name}${column.name}${meta.id}"]
        step, first = identity["step"], identity["start"] if first is None else first
        self.ctx.con.execute(f"CREATE SEQUENCE {identity_sequence(column)} START WITH {first} INCREMENT BY {step}"
                             + ("" if step > 0 else f" MAXVALUE {first}"))  # fmt: skip
        return identity_default(column)

    def _apply_properties(self, meta: TableMeta, properties: exp.Properties | None) -> None:
        for prop in properties.expressions if properties else []:
            if isinstance(prop, exp.FileFormatProperty):
                if prop.name.upper() not in ("DELTA", "ICEBERG"):
                    raise unsupported(f"USING {prop.name.upper()} tables (only Delta and Iceberg tables)")
                meta.format = prop.name.lower()
            elif isinstance(prop, exp.PartitionedByProperty):
                meta.partitioned_by = [c.name for c in prop.this.expressions]
            elif isinstance(prop, exp.ClusterProperty):  # CLUSTER BY AUTO: Databricks picks the columns
                names = [c.name for c in prop.expressions]
                auto = len(names) == 1 and names[0].upper() == "AUTO" and not prop.expressions[0].this.quoted
                meta.clustered_by = ["AUTO"] if auto or not names else names
            elif isinstance(prop, exp.SchemaCommentProperty):
                meta.comment = prop.this.name
            elif isinstance(prop, exp.Property):  # keys and values quoted or not: 'a.b' = 'true', a.b = true
                meta.properties[_property_text(prop.this)] = _property_text(prop.args["value"])
            else:
                raise unsupported(f"the table clause {prop.sql('databricks')}")

    def _create_schema(self, e: exp.Create) -> Result:
        table = e.this
        catalog = check_name(table.catalog or self.ctx.current_catalog, "catalog")
        schema = check_name(table.db or table.name, "schema")
        if not self.ctx.meta.catalog_exists(catalog):
            raise no_catalog(catalog)
        if self.ctx.meta.schema_exists(catalog, schema):
            return already_exists("SCHEMA", f"schema {quote_dbx(catalog, schema)}", bool(e.args.get("exists")), "42P06")
        self.ctx.meta.create_schema(catalog, schema)
        return Result()

    def alter(self, e: exp.Alter) -> Result:
        meta = self.ctx.lookup(e.this)
        with self.ctx.transaction():
            for action in e.args.get("actions", []):
                given = {k for k, v in action.args.items() if v}
                if isinstance(action, exp.AlterRename):  # RENAME TO [schema.]name, within the catalog
                    meta = self._rename(meta, action.this)
                elif isinstance(action, (exp.Schema, exp.ColumnDef)):  # ADD COLUMNS (..) or ADD COLUMN c t
                    defs = action.expressions if isinstance(action, exp.Schema) else [action]
                    self.add_columns(meta, [column_def(c) for c in defs])
                    self.ctx.meta.commit(meta, "ADD COLUMNS", {"columns": [c.name for c in defs]}, {})
                elif isinstance(action, exp.AddConstraint):
                    for constraint in action.expressions:
                        self._add_constraint(meta, constraint)
                    self.ctx.meta.commit(meta, "ADD CONSTRAINT", {"name": action.expressions[0].name}, {})
                elif isinstance(action, exp.Drop) and str(action.args.get("kind")).upper() == "CONSTRAINT":
                    name = action.args["tables"][0].name
                    self._drop_constraint(meta, name, bool(action.args.get("exists")), bool(action.args.get("cascade")))
                    self.ctx.meta.commit(meta, "DROP CONSTRAINT", {"name": name}, {})
                elif isinstance(action, exp.AlterColumn) and given == {"this", "comment"}:
                    column = meta.column(action.name) or fail(unresolved_column(action.name, meta))
                    column.comment = action.args["comment"].name
                    self.ctx.meta.commit(meta, "CHANGE COLUMN", {"column": column.name}, {})
                elif isinstance(action, exp.AlterColumn) and given == {"this", "dtype"}:
                    self._widen(meta, action.name, action.args["dtype"].sql("databricks"))
                elif isinstance(action, exp.AlterSet) and all(
                    isinstance(p, exp.Properties) for p in action.expressions
                ):
                    for properties in action.expressions:
                        self._apply_properties(meta, properties)
                    self.ctx.meta.commit(meta, "SET TBLPROPERTIES", {"properties": sorted(meta.properties)}, {})
                else:
                    raise unsupported(f"ALTER TABLE {action.sql('databricks')}")
        return Result()

    def _rename(self, meta: TableMeta, target: exp.Table) -> TableMeta:
        if not target.catalog and target.db:  # schema.name: in the table's own catalog
            target = exp.table_(target.name, db=target.db, catalog=meta.catalog)
        catalog, schema, name = self.ctx.resolve(
            target if target.db else exp.table_(target.name, meta.schema, meta.catalog)
        )
        if catalog != meta.catalog:
            raise LocalSQLError("INVALID_RENAME_ACROSS_CATALOGS", f"Cannot rename {meta.display} into catalog {quote_dbx(catalog)}; a table stays in its catalog.", "0AKD0")  # fmt: skip
        self.ctx.meta.require_schema(catalog, schema)
        if self.ctx.meta.get_table(catalog, schema, name) is not None:
            raise LocalSQLError("TABLE_OR_VIEW_ALREADY_EXISTS", f"Cannot rename {meta.display}: {quote_dbx(catalog, schema, name)} already exists.", "42P07")  # fmt: skip
        return self.ctx.meta.rename_table(meta, catalog, schema, name)

    def add_columns(self, meta: TableMeta, columns: list[Column]) -> None:
        for column in columns:
            if meta.column(column.name) is not None:
                raise LocalSQLError(
                    "FIELDS_ALREADY_EXISTS",
                    f"Cannot add column, because {quote_dbx(column.name)} already exists in {meta.display}.",
                    "42710",
                )
        first = not meta.columns
        for column in columns if not first else []:
            if column.identity:
                raise LocalSQLError("DELTA_IDENTITY_COLUMNS_ALTER_NOT_SUPPORTED", f"Cannot add the identity column {quote_dbx(column.name)} to an existing table.", "0AKDE")  # fmt: skip
        required = [c for c in columns if not c.nullable]
        if (
            required
            and not first
            and self.ctx.con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {meta.duck} LIMIT 1)").fetchall()[0][0]
        ):
            raise LocalSQLError(  # its existing rows would hold NULL in it
                "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
                f"NOT NULL constraint violated for column: {required[0].name}. {meta.display} has rows, which would "
                "hold NULL in the new column: add it without NOT NULL.",
                "23502",
            )
        meta.columns.extend(columns)
        check_columns(meta)
        if first:
            self._create_duck_table(meta)
            return
        for column in columns:
            self.ctx.con.execute(
                f"ALTER TABLE {meta.duck} ADD COLUMN {quote_duck(column.name)} {databricks_to_duckdb(column.type)}"
            )

    def _widen(self, meta: TableMeta, name: str, new_type: str) -> None:
        """ALTER COLUMN ... TYPE: only Delta's type widening (e.g. INT -> BIGINT), only when it is enabled."""
        column = meta.column(name)
        if column is None:
            raise unresolved_column(name, meta)
        new_type = parse_type(new_type).sql("databricks")
        if meta.properties.get("delta.enableTypeWidening", "false").lower() != "true" or not fits(
            column.type, new_type
        ):
            raise LocalSQLError(
                "DELTA_UNSUPPORTED_ALTER_TABLE_CHANGE_COL_OP",
                f"ALTER TABLE ALTER COLUMN is not supported for changing column {quote_dbx(column.name)} from "
                f"{column.type} to {new_type}: only widening with 'delta.enableTypeWidening' = 'true' is.",
                "0AKDC",
            )
        self.ctx.con.execute(
            f"ALTER TABLE {meta.duck} ALTER COLUMN {quote_duck(column.name)} TYPE {databricks_to_duckdb(new_type)}"
        )
        column.type = new_type
        self.ctx.meta.commit(meta, "CHANGE COLUMN", {"column": column.name, "type": new_type}, {})

    def drop(self, e: exp.Drop) -> Result:
        kind = str(e.args.get("kind", "")).upper()
        with self.ctx.transaction():
            if kind in ("TABLE", "VIEW"):
                for table in e.args.get("tables") or [e.this]:
                    if (
                        kind == "VIEW"
                        and not table.db
                        and self.ctx.temp_views.pop(table.name.lower(), None) is not None
                    ):
                        continue
                    try:
                        meta = self.ctx.lookup(table)
                    except LocalSQLError:
                        if not e.args.get("exists"):
                            raise
                        continue
                    if meta.is_view != (kind == "VIEW"):
                        raise LocalSQLError(
                            "WRONG_COMMAND_FOR_OBJECT_TYPE",
                            f"DROP {kind} cannot drop {meta.display}, a {'view' if meta.is_view else 'table'}: use "
                            f"DROP {'VIEW' if meta.is_view else 'TABLE'}.",
                            "42809",
                        )
                    self.ctx.meta.drop_table(meta)
                return Result()
            if kind == "CONSTRAINT":
                raise unsupported("DROP CONSTRAINT outside ALTER TABLE")
            if kind in ("SCHEMA", "DATABASE"):
                table = e.args["tables"][0] if e.args.get("tables") else e.this
                catalog = check_name(table.catalog or self.ctx.current_catalog, "catalog")
                schema = check_name(table.db or table.name, "schema")
                if not self.ctx.meta.schema_exists(catalog, schema):
                    if e.args.get("exists"):
                        return Result()
                    raise schema_not_found(quote_dbx(catalog, schema))
                if self.ctx.meta.tables(catalog, schema) and not e.args.get("cascade"):
                    raise LocalSQLError(
                        "SCHEMA_NOT_EMPTY",
                        f"Cannot drop a schema {quote_dbx(catalog, schema)} because it contains objects. "
                        "Use DROP SCHEMA ... CASCADE to drop the schema and all its objects.",
                        "2BP01",
                    )
                self.ctx.meta.drop_schema(catalog, schema)
                return Result()
        raise unsupported(f"DROP {kind}")

    def use(self, e: exp.Use) -> Result:
        kind_arg = e.args.get("kind")
        kind = (kind_arg.name if kind_arg else "SCHEMA").upper()
        if kind == "CATALOG":
            self.ctx.open_namespace(e.this.name, None)
        else:
            *rest, schema = [p.name for p in e.this.parts]
            catalog = check_name(rest[0], "catalog") if rest else self.ctx.current_catalog
            self.ctx.meta.require_schema(catalog, check_name(schema, "schema"))
            self.ctx.current_catalog, self.ctx.current_schema = catalog, schema.lower()
        return Result()


def _property_text(node: exp.Expr) -> str:
    """A TBLPROPERTIES key or value as Databricks stores it: the text of a string, `true`/`false`, a dotted name."""
    if isinstance(node, exp.Literal):
        return node.name
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    return node.sql("databricks").replace("`", "")
