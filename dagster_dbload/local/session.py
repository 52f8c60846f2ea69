"""Session statements: SET / RESET of settings (time zone, ANSI mode, ...) and multi-statement transactions
(BEGIN / COMMIT / ROLLBACK, SET AUTOCOMMIT), following Databricks SQL's documented behaviour."""

from __future__ import annotations

import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from .common import Result, table_of
from .context import DEFAULTS, SPARK_DEFAULTS, Context, unquoted
from .errors import LocalSQLError

_ALIASES = {"time zone": "timezone", "spark.sql.session.timezone": "timezone", "spark.sql.ansi.enabled": "ansi_mode"}
_SET = re.compile(r"SET(?:\s+(.*?))?\s*(?:=\s*(.*))?", re.I | re.S)
_TIME_ZONE = re.compile(r"SET\s+TIME\s+ZONE\s+(.+)", re.I | re.S)
_RESET = re.compile(r"RESET(?:\s+(.+))?", re.I | re.S)
_BEGIN = re.compile(r"(BEGIN|START)(\s+TRANSACTION)?", re.I)
_END = re.compile(r"(COMMIT|ROLLBACK|ABORT)(\s+(WORK|TRANSACTION))?", re.I)
_ALLOWED_INTROSPECTION = re.compile(
    r"(SHOW\s+COLUMNS|DESC(RIBE)?\s+QUERY|DESC(RIBE)?\s+(TABLE\s+)?(?!EXTENDED|FORMATTED|HISTORY|DETAIL)\S+\s*$)", re.I
)
_INFORMATION_SCHEMA = re.compile(r"\binformation_schema\s*\.", re.I)
_DDL = re.compile(r"(CREATE|ALTER|DROP|TRUNCATE|COPY|COMMENT|USE|PUT|GET|REMOVE|OPTIMIZE|VACUUM)\b", re.I)


class SessionStatements:
    """SET, RESET, BEGIN, COMMIT, ROLLBACK; `statement_allowed` enforces what runs inside a transaction."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def session_statement(self, body: str) -> Result | None:
        if re.fullmatch(r"SET\s+TIME\s+ZONE\s*", body, re.I):
            raise LocalSQLError(
                "PARSE_SYNTAX_ERROR", "Syntax error at or near end of input: SET TIME ZONE needs a zone.", "42601"
            )
        if m := _TIME_ZONE.fullmatch(body):
            value = unquoted(m.group(1))
            value = DEFAULTS["timezone"] if value.upper() == "LOCAL" else value
            return self._set("timezone", value, shown="spark.sql.session.timeZone")
        if _BEGIN.fullmatch(body):
            return self._begin()
        if m := _END.fullmatch(body):
            return self._end(commit=m.group(1).upper() == "COMMIT")
        if m := _RESET.fullmatch(body):
            keys = [self._setting_key(m.group(1))] if m.group(1) else list(self.ctx.settings)
            for key in keys:
                self.ctx.settings.pop(key, None)
            self.ctx.apply_settings()
            return Result()
        m = _SET.fullmatch(body) if re.match(r"SET\b", body, re.I) else None
        if m is None:
            return None
        key = self._setting_key(m.group(1)) if m.group(1) else ""
        named = key.removeprefix("system.").removeprefix("session.")
        if self.ctx.variables is not None and named in self.ctx.variables.variables and m.group(2) is not None:
            raise LocalSQLError(
                "UNSUPPORTED_FEATURE.SET_VARIABLE_USING_SET",
                f"`{named}` is a session variable: set it with SET VARIABLE {named} = ...", "0A000",
            )  # fmt: skip
        if key == "autocommit":
            return self._autocommit(m.group(2))
        if m.group(2) is not None:
            return self._set(key, unquoted(m.group(2)), shown=" ".join(unquoted(m.group(1)).split()))
        values = {**DEFAULTS, **self.ctx.settings}
        if key:  # one setting, named as written: its value, else Spark's default
            default = SPARK_DEFAULTS[key][0] if key in SPARK_DEFAULTS and key.startswith("spark.") else "<undefined>"
            items = [(" ".join(unquoted(m.group(1)).split()), values.get(key, default))]
        else:
            items = sorted(values.items())
        return Result(table_of(key=(pa.string(), [k for k, _ in items]), value=(pa.string(), [v for _, v in items])))

    def configure(self, configuration: Mapping[str, str]) -> None:
        """A session's configuration (the connector's session_configuration), each entry as SET sets it;
        the connector's own protocol settings (spark.thriftserver.*) are not session settings."""
        for key, value in configuration.items():
            if not key.startswith("spark.thriftserver."):
                self._set(self._setting_key(key), str(value))

    @staticmethod
    def _setting_key(text: str) -> str:
        key = " ".join(unquoted(text).split()).lower()
        return _ALIASES.get(key, key)

    def _set(self, key: str, value: str, shown: str | None = None) -> Result:
        """Set `key`; the answer shows the key as the statement wrote it (`shown`), as Databricks does."""
        if key == "timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise LocalSQLError("INVALID_CONF_VALUE.TIME_ZONE", f"Cannot resolve the given timezone {value!r}.",
                                    "22023") from None  # fmt: skip
        if key == "ansi_mode" and value.lower() not in ("true", "false"):
            raise LocalSQLError(
                "INVALID_CONF_VALUE", f"The value {value!r} of ansi_mode must be true or false.", "22022"
            )
        self.ctx.settings[key] = value
        self.ctx.apply_settings()
        return Result(table_of(key=(pa.string(), [shown or key]), value=(pa.string(), [value])))

    # transactions
    def _autocommit(self, value: str | None) -> Result:
        if value is None:
            return Result(table_of(value=(pa.string(), [str(self.ctx.autocommit).lower()])))
        wanted = unquoted(value).lower()
        if wanted not in ("true", "false"):
            raise LocalSQLError("INVALID_CONF_VALUE", "SET AUTOCOMMIT takes TRUE or FALSE.", "22022")
        if self.ctx.in_transaction:
            raise LocalSQLError(
                "TRANSACTION_NOT_SUPPORTED.CHANGE_AUTOCOMMIT_IN_ACTIVE_TRANSACTION",
                "Cannot change AUTOCOMMIT while a transaction is active: COMMIT or ROLLBACK first.",
                "25000",
            )
        self.ctx.autocommit = wanted == "true"
        return Result()

    def _begin(self) -> Result:
        if self.ctx.in_transaction:
            raise LocalSQLError(
                "TRANSACTION_NOT_SUPPORTED.NESTED_TRANSACTION",
                "A transaction is already active in this session: COMMIT or ROLLBACK it before BEGIN.",
                "25001",
            )
        self.ctx.con.execute("BEGIN TRANSACTION")
        self.ctx.in_transaction, self.ctx.aborted = True, False
        return Result()

    def _end(self, commit: bool) -> Result:
        if not self.ctx.in_transaction:
            if not self.ctx.autocommit:
                return Result()  # nothing ran since the last COMMIT: an empty transaction
            raise LocalSQLError(
                "NO_ACTIVE_TRANSACTION",
                f"There is no active transaction to {'COMMIT' if commit else 'ROLLBACK'}: start one with "
                "BEGIN TRANSACTION or SET AUTOCOMMIT = FALSE.",
                "25000",
            )
        if commit and self.ctx.aborted:
            self.ctx.con.execute("ROLLBACK")
            self.ctx.in_transaction = self.ctx.aborted = False
            raise LocalSQLError(
                "TRANSACTION_ABORTED",
                "The transaction was aborted by an earlier failed statement; rolled back.",
                "25P02",
            )
        self.ctx.con.execute("COMMIT" if commit else "ROLLBACK")
        self.ctx.in_transaction = self.ctx.aborted = False
        return Result()

    def check_metadata_call(self) -> None:
        """The Thrift metadata calls are refused inside a transaction (which stays usable)."""
        if self.ctx.in_transaction:
            raise LocalSQLError(
                "TRANSACTION_NOT_SUPPORTED.METADATA_RPC",
                "Metadata calls (catalogs, schemas, tables, columns) are not supported within a multi-statement "
                "transaction: COMMIT or ROLLBACK first.",
                "25000",
            )

    def statement_allowed(self, body: str) -> None:
        """Inside a transaction: only queries and DML, and nothing after a failure until ROLLBACK. With
        AUTOCOMMIT off, the first such statement starts the transaction."""
        if _END.fullmatch(body) or _BEGIN.fullmatch(body) or re.match(r"(SET|RESET)\b", body, re.I):
            return
        introspection = re.match(r"(SHOW|DESCRIBE|DESC)\b", body, re.I)
        if not self.ctx.in_transaction and not self.ctx.autocommit and not _DDL.match(body):
            self._begin()
        if not self.ctx.in_transaction:
            return
        if self.ctx.aborted:
            raise LocalSQLError(
                "TRANSACTION_ABORTED",
                "The current transaction was aborted by a failed statement; ROLLBACK before running more.",
                "25P02",
            )
        if (introspection and not _ALLOWED_INTROSPECTION.match(body)) or _INFORMATION_SCHEMA.search(body):
            raise LocalSQLError(
                "TRANSACTION_NOT_SUPPORTED.COMMAND",
                "Only SELECT / INSERT / MERGE / UPDATE / DELETE / DESCRIBE TABLE / DESCRIBE QUERY / SHOW COLUMNS are "
                f"supported within a multi-statement transaction, not {' '.join(body.split()[:2]).upper()}.",
                "25000",
            )
        if _DDL.match(body):
            raise LocalSQLError(
                "TRANSACTION_NOT_SUPPORTED.STATEMENT",
                f"{body.split(None, 1)[0].upper()} cannot run inside a multi-statement transaction: only SELECT, "
                "INSERT, UPDATE, DELETE and MERGE can. COMMIT or ROLLBACK first.",
                "25000",
            )
