"""What every statement family of a session works on: its DuckDB connection, catalog and change feed, the files it reads, its
current names, settings and transaction state, and the name lookup and transaction scope they share."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import duckdb
from sqlglot import exp

from . import decimals
from .catalog import Catalog, TableMeta, check_name, quote_dbx
from .changes import ChangeFeed
from .common import no_catalog
from .errors import LocalSQLError, table_not_found
from .files import FileResolver
from .variables import SessionVariables

USER = "local"  # current_user() of every session, the owner of what it makes and of stage://tmp/local/
DEFAULTS = {"ansi_mode": "true", "timezone": "Etc/UTC", "use_cached_result": "true", "statement_timeout": "172800"}

# Settings that change what a statement answers. The engine follows these, in any value Databricks takes:
HONOURED = {"timezone", "ansi_mode", "spark.sql.decimaloperations.allowprecisionloss",
            "spark.sql.legacy.cteprecedencepolicy", "use_cached_result", "statement_timeout", "query_tags"}  # fmt: skip
# Spark's defaults (as pyspark 4.3 reports them) of settings the engine does not follow: at their default, they
# change nothing; any other value is refused.
SPARK_DEFAULTS = {
    "legacy_time_parser_policy": ("exception", "corrected"),  # Databricks' parameter; the engine parses as CORRECTED
    "path": ("default_path",),
    **{f"spark.sql.{k}": (v,) for k, v in {
        "ansi.doublequotedidentifiers": "false", "ansi.enforcereservedkeywords": "false",
        "analyzer.loweremptygroupingsettoglobalaggregate.enabled": "true", "binbyrelationoperator.enabled": "false",
        "casesensitive": "false", "crossjoin.enabled": "true", "cterecursionlevellimit": "100",
        "cterecursionrowlimit": "1000000", "function.concatbinaryasstring": "false",
        "function.eltoutputasstring": "false", "groupbyaliases": "true", "groupbyordinal": "true",
        "orderbyordinal": "true", "parser.quotedregexcolumnnames": "false",
        "parser.singlecharacterpipeoperator.enabled": "true", "path.enabled": "false",
        "prioritizeordinalresolutioninsort.enabled": "true", "storeassignmentpolicy": "ansi",
        "timestampnanostypes.enabled": "false", "timestamptype": "timestamp_ltz",
        "legacy.timeparserpolicy": "corrected", "legacy.viewschemabindingmode": "true",
        "legacy.viewschemacompensation": "true", "legacy.allowparameterlesscount": "false",
        "legacy.allowstarwithsingletableidentifierincount": "false",
        "legacy.allowudfparametertoshadowparameterlessfunction": "false", "legacy.bangequalsnot": "false",
        "legacy.codingerroraction": "false", "legacy.consecutivestringliterals.enabled": "false",
        "legacy.identifierclause": "false", "legacy.interval.enabled": "false", "legacy.javacharsets": "false",
        "legacy.negativeindexinarrayinsert": "false", "legacy.parsequerywithouteof": "false",
        "legacy.parser.havingwithoutgroupbyaswhere": "false", "legacy.percentiledisccalculation": "false",
        "legacy.raiseerrorwithouterrorclass": "false", "legacy.setopsprecedence.enabled": "false",
    }.items()},
}  # fmt: skip
# Settings of speed, plans and printing only (what a query answers does not depend on them).
_NO_EFFECT = ("spark.sql.shuffle.", "spark.sql.adaptive.", "spark.sql.optimizer.", "spark.sql.analyzer.singlepassresolver.",
              "spark.sql.files.", "spark.sql.autobroadcastjointhreshold", "spark.sql.maxmetadatastringlength",
              "spark.sql.cbo.", "spark.sql.statistics.", "spark.sql.codegen.", "spark.sql.execution.",
              "spark.sql.leafnodedefaultparallelism", "spark.sql.subexpressionelimination.",
              "spark.sql.optimizenullawareantijoin", "spark.sql.cterecursionanchorrowslimittoconverttolocalrelation",
              "spark.sql.join.",
              "spark.databricks.io.cache.", "max_file_partition_bytes", "read_only_external_metastore")  # fmt: skip


_DATETIME_PATTERNS = re.compile(
    r"\b(to_date|to_timestamp\w*|try_to_timestamp|unix_timestamp|to_unix_timestamp|from_unixtime|date_format|"
    r"from_json|from_csv|to_json|to_csv|schema_of_json|schema_of_csv|cast|try_cast)\s*\(|::",
    re.I,
)
# The statements a setting the engine does not follow can change (any other: every statement).
_SCOPES = {
    "spark.sql.groupbyaliases": re.compile(r"\bGROUP\s+BY\b", re.I),
    "spark.sql.cterecursionlevellimit": re.compile(r"\bRECURSIVE\b", re.I),
    "spark.sql.cterecursionrowlimit": re.compile(r"\bRECURSIVE\b", re.I),
    "spark.sql.legacy.timeparserpolicy": _DATETIME_PATTERNS,
    "legacy_time_parser_policy": _DATETIME_PATTERNS,
}


def unquoted(value: str) -> str:
    """A setting's key or value without the quotes it was written in."""
    value = value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"`" else value


def not_followed(key: str, value: str) -> bool:
    """Whether the engine would answer differently from Databricks with `key` set to `value`: a spark.* setting
    it does not follow (or SET PATH), at a value other than Spark's default."""
    if key in HONOURED or key.startswith(_NO_EFFECT):
        return False
    if key in SPARK_DEFAULTS:
        return unquoted(value).lower() not in SPARK_DEFAULTS[key]
    return key.startswith("spark.")


class Context:
    """One session's state; the families (reads, DDL, writes, MERGE, metadata, session statements) get it
    explicitly, and each other only through their public methods."""

    con: duckdb.DuckDBPyConnection
    meta: Catalog
    changes: ChangeFeed

    def __init__(self, files: FileResolver, catalog: str = "main", schema: str = "default"):
        self.files = files
        self.current_catalog = catalog.lower()
        self.current_schema = schema.lower()
        self.settings: dict[str, str] = {}
        self.temp_views: dict[str, TableMeta] = {}
        self.variables: SessionVariables | None = None  # the engine's, set when it is made
        self.autocommit, self.in_transaction, self.aborted = True, False, False

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Run the session's next statements on `con` (the file is opened again after it was released)."""
        self.con = con
        self.meta = Catalog(con)
        self.changes = ChangeFeed(con)
        decimals.install(con)
        self.apply_settings()

    @property
    def time_zone(self) -> str:
        return self.settings.get("timezone", DEFAULTS["timezone"])

    def require_followed_settings(self, statement: str) -> None:
        """Refuse `statement` while a setting the engine does not follow is in effect and can change it (it would
        answer as if the setting were at its default)."""
        for key, value in self.settings.items():
            scope = _SCOPES.get(key)
            if not_followed(key, value) and (scope is None or scope.search(statement)):
                raise LocalSQLError(
                    "UNSUPPORTED_FEATURE.SETTING",
                    f"The local SQL warehouse does not follow the setting {key}={value}: its statements would "
                    f"answer as if it were at Spark's default. RESET {key} (or set it to its default) to run them "
                    "locally; a Databricks SQL warehouse runs them with the setting.",
                    "0A000",
                )

    def apply_settings(self) -> None:
        zone = self.time_zone
        self.con.execute(f"SET TimeZone = {exp.Literal.string(zone).sql('duckdb')}")

    @property
    def ansi_mode(self) -> bool:
        return self.settings.get("ansi_mode", "true").lower() == "true"

    @property
    def decimal_precision_loss(self) -> bool:
        return self.settings.get("spark.sql.decimaloperations.allowprecisionloss", "true").lower() == "true"

    def open_namespace(self, catalog: str | None, schema: str | None) -> None:
        if catalog:
            catalog = check_name(catalog, "catalog")
            if not self.meta.catalog_exists(catalog):
                raise no_catalog(catalog)
            self.current_catalog, self.current_schema = catalog, "default"
        if schema:
            self.current_schema = check_name(schema, "schema")

    def resolve(self, table: exp.Table) -> tuple[str, str, str]:
        """(catalog, schema, name) of a table reference, in the session's current catalog and schema."""
        parts = [p.name for p in table.parts]
        if len(parts) > 3:
            raise LocalSQLError(
                "REQUIRES_SINGLE_PART_NAMESPACE", f"{table.sql('databricks')} has too many name parts.", "42K05"
            )
        parts = [self.current_catalog, self.current_schema][: 3 - len(parts)] + parts
        kinds = ("catalog", "schema", "table")
        return tuple(check_name(p, k) for p, k in zip(parts, kinds, strict=True))  # type: ignore[return-value]

    def lookup(self, table: exp.Table) -> TableMeta:
        """The table or view a reference names (a temporary view first); `[TABLE_OR_VIEW_NOT_FOUND]` if none."""
        if not table.db and table.name.lower() in self.temp_views:
            return self.temp_views[table.name.lower()]
        catalog, schema, name = self.resolve(table)
        meta = self.meta.get_table(catalog, schema, name)
        if meta is None:
            raise table_not_found(quote_dbx(catalog, schema, name))
        return meta

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One statement's changes commit together (inside an interactive transaction, with it)."""
        if self.in_transaction:
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
