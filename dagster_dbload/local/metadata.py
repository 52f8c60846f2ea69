"""SHOW and DESCRIBE: what the catalog knows about tables."""

from __future__ import annotations

import json
import re
from datetime import datetime

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from .catalog import TableMeta, check_name
from .columns import display_type
from .common import (
    Result,
    no_catalog,
    table_arg,
    table_of,
)
from .errors import unsupported


class Metadata:
    """SHOW TABLES|SCHEMAS|CATALOGS|TBLPROPERTIES, DESCRIBE [EXTENDED|HISTORY|DETAIL]."""

    def _show(self, body: str) -> Result:
        m = re.fullmatch(r"SHOW\s+TBLPROPERTIES\s+(.+?)(?:\s*\(\s*(.+?)\s*\))?", body, re.I | re.S)
        if m:
            meta = self._lookup(table_arg(m.group(1)))
            if m.group(2) is None:
                items = sorted(meta.properties.items())
            else:
                key = sqlglot.parse_one(m.group(2), read="databricks").name
                missing = f"Table {meta.display} does not have property: {key}"
                items = [(key, meta.properties.get(key, missing))]
            return Result(
                table_of(key=(pa.string(), [k for k, _ in items]), value=(pa.string(), [v for _, v in items]))
            )
        m = re.fullmatch(r"SHOW\s+(TABLES|SCHEMAS|DATABASES|CATALOGS)(?:\s+(?:IN|FROM)\s+(\S+))?", body, re.I)
        if not m:
            raise unsupported(f"SHOW {body.split(None, 2)[1].upper() if len(body.split()) > 1 else ''}".strip())
        what = m.group(1).upper()
        if what == "CATALOGS":
            return Result(table_of(catalog=(pa.string(), self.meta.catalogs())))
        if what in ("SCHEMAS", "DATABASES"):
            catalog = check_name(table_arg(m.group(2)).name, "catalog") if m.group(2) else self.current_catalog
            if not self.meta.catalog_exists(catalog):
                raise no_catalog(catalog)
            return Result(table_of(databaseName=(pa.string(), self.meta.schemas(catalog))))
        if m.group(2):
            parts = [check_name(p.name, "schema") for p in table_arg(m.group(2) + ".x").parts[:-1]]
            catalog, schema = ([self.current_catalog] + parts)[-2:]
        else:
            catalog, schema = self.current_catalog, self.current_schema
        self.meta.require_schema(catalog, schema)
        names = self.meta.tables(catalog, schema)
        return Result(
            table_of(
                database=(pa.string(), [schema] * len(names)),
                tableName=(pa.string(), names),
                isTemporary=(pa.bool_(), [False] * len(names)),
            )
        )

    def _describe(self, e: exp.Describe) -> Result:
        if isinstance(e.this, exp.Table) is False:
            raise unsupported(f"DESCRIBE {e.this.sql('databricks')}")
        style = str(e.args.get("style") or "").upper()
        meta = self._lookup(e.this)
        if style == "HISTORY":
            return self._describe_history(meta)
        if style not in ("", "EXTENDED", "FORMATTED"):
            raise unsupported(f"DESCRIBE {style}")
        rows = [(c.name, display_type(c.type), c.comment) for c in meta.columns]
        for title, cols in (
            ("# Partition Information", meta.partitioned_by),
            ("# Clustering Information", meta.clustered_by),
        ):
            if cols and cols != ["AUTO"]:
                rows += [(title, "", ""), ("# col_name", "data_type", "comment")]
                rows += [(c.name, display_type(c.type), c.comment) for c in map(meta.column, cols) if c]
        if style:
            props = ",".join(f"{k}={v}" for k, v in sorted(meta.properties.items()))
            rows += [("", "", ""), ("# Detailed Table Information", "", "")]
            rows += [
                ("Catalog", meta.catalog, ""),
                ("Database", meta.schema, ""),
                ("Table", meta.name, ""),
                ("Created Time", meta.created_at, ""),
                ("Type", "MANAGED", ""),
                ("Comment", meta.comment, ""),
                ("Location", f"dbload-local:/{meta.catalog}/{meta.schema}/{meta.name}", ""),
                ("Provider", "delta", ""),
                ("Table Properties", f"[{props}]", ""),
            ]
            if meta.clustered_by:
                rows.append(("Clustering Columns", str(meta.clustered_by), ""))
        names = ("col_name", "data_type", "comment")
        return Result(table_of(**{n: (pa.string(), [r[i] for r in rows]) for i, n in enumerate(names)}))

    def _describe_history(self, meta: TableMeta) -> Result:
        rows = self.meta.history(meta)
        as_map = pa.map_(pa.string(), pa.string())
        return Result(
            table_of(
                version=(pa.int64(), [r[0] for r in rows]),
                timestamp=(pa.timestamp("us", "UTC"), [r[1] for r in rows]),
                userName=(pa.string(), ["local"] * len(rows)),
                operation=(pa.string(), [r[2] for r in rows]),
                operationParameters=(as_map, [list(json.loads(r[3]).items()) for r in rows]),
                readVersion=(pa.int64(), [r[0] - 1 if r[0] else None for r in rows]),
                isolationLevel=(pa.string(), ["WriteSerializable"] * len(rows)),
                isBlindAppend=(pa.bool_(), [r[2] == "COPY INTO" for r in rows]),
                operationMetrics=(as_map, [list(json.loads(r[4]).items()) for r in rows]),
                engineInfo=(pa.string(), [f"dagster-dbload-local duckdb/{duckdb.__version__}"] * len(rows)),
            )
        )

    def _describe_detail(self, meta: TableMeta) -> Result:
        rows = self.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0] if meta.columns else 0
        strings = pa.list_(pa.string())
        return Result(
            table_of(
                format=(pa.string(), ["delta"]),
                id=(pa.string(), [meta.id]),
                name=(pa.string(), [f"{meta.catalog}.{meta.schema}.{meta.name}"]),
                description=(pa.string(), [meta.comment]),
                location=(pa.string(), [f"dbload-local:/{meta.catalog}/{meta.schema}/{meta.name}"]),
                createdAt=(pa.timestamp("us", "UTC"), [datetime.fromisoformat(meta.created_at)]),
                lastModified=(pa.timestamp("us", "UTC"), [self.meta.last_modified(meta)]),
                partitionColumns=(strings, [meta.partitioned_by]),
                clusteringColumns=(strings, [meta.clustered_by]),
                numFiles=(pa.int64(), [meta.version + 1]),
                numRows=(pa.int64(), [rows]),
                properties=(pa.map_(pa.string(), pa.string()), [list(meta.properties.items())]),
                minReaderVersion=(pa.int32(), [1]),
                minWriterVersion=(pa.int32(), [2]),
                version=(pa.int64(), [meta.version]),
            )
        )
