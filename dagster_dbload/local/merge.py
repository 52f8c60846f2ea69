"""MERGE INTO with Delta semantics on DuckDB's MERGE."""

from __future__ import annotations

import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from .catalog import TableMeta, enabled, quote_duck
from .common import (
    Result,
    counts,
)
from .context import Context
from .errors import LocalSQLError, unsupported
from .reads import Reads
from .writes import Writes


class Merges:
    """MERGE [WITH SCHEMA EVOLUTION] INTO."""

    def __init__(self, ctx: Context, reads: Reads, writes: Writes):
        self.ctx, self.reads, self.writes = ctx, reads, writes

    def merge(self, e: exp.Merge, schema_evolution: bool) -> Result:
        """MERGE with Delta semantics (a target row matched by several source rows is an error) on DuckDB's MERGE;
        schema evolution, the check and the merge commit together or not at all."""
        meta = self.ctx.lookup(e.this)
        whens = list(e.args["whens"].expressions)
        with self.ctx.transaction():
            source_schema = self.reads.source_schema(exp.select("*").from_(e.args["using"].copy()))
            if schema_evolution:
                self.writes.evolve(meta, source_schema, True)
                self.ctx.meta.commit(meta, "ADD COLUMNS", {"source": "MERGE WITH SCHEMA EVOLUTION"}, {})
            by_name = _stars_by_name(e, [c.name for c in meta.columns], source_schema.names, schema_evolution)
            rewritten = sqlglot.parse_one(self.reads.to_duckdb(by_name), read="duckdb")
            assert isinstance(rewritten, exp.Merge)  # the MERGE, written for DuckDB
            target, source, on = (
                rewritten.this.sql("duckdb"),
                rewritten.args["using"].sql("duckdb"),
                rewritten.args["on"].sql("duckdb"),
            )
            if any(w.args.get("matched") for w in whens):
                repeated = self.ctx.con.execute(
                    _repeated_matches_sql(meta, target, source, on, _alias(rewritten.this))
                ).fetchall()[0][0]
                if repeated:
                    raise LocalSQLError(
                        "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE",
                        f"Cannot perform Merge as multiple source rows matched and attempted to modify the same "
                        f"target row in the Delta table {meta.display} ({repeated} target rows affected). "
                        "Preprocess the source table to eliminate the possibility of multiple matches.",
                        "21506",
                    )
            rows = _actions(self.ctx, meta, rewritten)
            self.ctx.changes.record(meta, "delete", rows.get("delete", "false"))
            self.ctx.changes.record(meta, "update_preimage", rows.get("update", "false"))
            mark = self.ctx.changes.mark(meta)
            updated, deleted, inserted = self._run_merge(meta, rewritten.sql("duckdb"), whens)
            self.ctx.changes.record(meta, "update_postimage", rows.get("update", "false"))
            self.ctx.changes.inserted(meta, mark)
            self.ctx.meta.commit(
                meta,
                "MERGE",
                {"predicate": e.args["on"].sql("databricks")},
                {
                    "numTargetRowsUpdated": updated,
                    "numTargetRowsDeleted": deleted,
                    "numTargetRowsInserted": inserted,
                    "numOutputRows": updated + inserted,
                },
            )
        return counts(
            num_affected_rows=updated + deleted + inserted,
            num_updated_rows=updated,
            num_deleted_rows=deleted,
            num_inserted_rows=inserted,
        )

    def _run_merge(self, meta: TableMeta, merge_sql: str, whens: list[exp.When]) -> tuple[int, int, int]:
        """Run the DuckDB MERGE; (updated, deleted, inserted) rows. With at most two kinds of action the counts
        follow from DuckDB's total and the table's growth; with all three they come from RETURNING merge_action
        (slower: it collects a row per action), which a table column of that name hides."""
        kinds = {type(w.args["then"]).__name__ for w in whens}  # Update, Insert, Var (DELETE)
        if len(kinds) == 3:
            if meta.column("merge_action") is not None:
                raise unsupported(
                    "MERGE with UPDATE, DELETE and INSERT clauses into a table with a column named merge_action"
                )
            actions = self.ctx.con.sql(f"{merge_sql} RETURNING merge_action").to_arrow_table()
            counts = {row["values"]: row["counts"] for row in pc.value_counts(actions.column(0)).to_pylist()}
            return counts.get("UPDATE", 0), counts.get("DELETE", 0), counts.get("INSERT", 0)
        before = self.ctx.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0]
        total = self.ctx.con.execute(merge_sql).fetchall()[0][0]
        growth = self.ctx.con.execute(f"SELECT count(*) FROM {meta.duck}").fetchall()[0][0] - before
        if "Var" not in kinds:  # no deletes: the table grew by the inserts
            return total - growth, 0, growth
        if "Insert" not in kinds:  # no inserts: it shrank by the deletes
            return total + growth, -growth, 0
        return 0, (total - growth) // 2, (total + growth) // 2  # no updates: total = d + i, growth = i - d


def _actions(ctx: Context, meta: TableMeta, merge: exp.Merge) -> dict[str, str]:
    """With the change feed on: "update" / "delete" -> a condition on `rowid` for the target rows the MERGE will
    update or delete, decided now as Delta does (each row takes the first clause whose condition holds)."""
    if not enabled(meta):
        return {}
    target, source, on = merge.this.sql("duckdb"), merge.args["using"].sql("duckdb"), merge.args["on"].sql("duckdb")
    alias = _alias(merge.this)
    whens = merge.args["whens"].expressions

    def action(by_source: bool) -> str | None:
        clauses = [w for w in whens if w.args.get("matched") != by_source and bool(w.args.get("source")) == by_source]
        if not clauses:
            return None
        cases = " ".join(
            f"WHEN {w.args['condition'].sql('duckdb') if w.args.get('condition') else 'true'} THEN "
            f"'{'update' if isinstance(w.args['then'], exp.Update) else 'delete'}'"
            for w in clauses
        )
        return f"CASE {cases} END"

    matched, unmatched = action(False), action(True)
    parts = []
    if matched:
        parts.append(f"SELECT {alias}.rowid AS rid, {matched} AS kind FROM {target} JOIN {source} ON {on}")
    if unmatched:
        parts.append(
            f"SELECT {alias}.rowid AS rid, {unmatched} AS kind FROM {target} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {source} WHERE {on})"
        )
    if not parts:
        return {}
    ctx.con.execute(f"CREATE OR REPLACE TEMP TABLE __dbload_changed AS {' UNION ALL '.join(parts)}")
    return {kind: f"rowid IN (SELECT rid FROM __dbload_changed WHERE kind = '{kind}')" for kind in ("update", "delete")}


def _stars_by_name(e: exp.Merge, target: list[str], source: list[str], schema_evolution: bool) -> exp.Merge:
    """`UPDATE SET *` and `INSERT *` spelled out by name, as Databricks resolves them: each target column takes
    the source column of its name (case-insensitively) and source columns the target lacks are ignored. A target
    column the source lacks is refused, unless schema evolution is on: then UPDATE leaves it and INSERT writes NULL."""
    if not any(_is_star(w.args["then"]) for w in e.args["whens"].expressions):
        return e
    e = e.copy()
    alias = e.args["using"].alias_or_name
    given = {name.lower(): name for name in source}
    for when in e.args["whens"].expressions:
        then = when.args["then"]
        if not _is_star(then):
            continue
        clause = "UPDATE" if isinstance(then, exp.Update) else "INSERT"
        missing = [c for c in target if c.lower() not in given]
        if missing and not schema_evolution:
            raise LocalSQLError(
                "DELTA_MERGE_UNRESOLVED_EXPRESSION",
                f"Cannot resolve {missing[0]} in {clause} clause given columns {', '.join(f'{alias}.{c}' for c in source)}.",
                "42601",
            )
        pairs = [(exp.column(c, quoted=True), exp.column(given[c.lower()], table=alias, quoted=True))
                 for c in target if c.lower() in given]  # fmt: skip
        if isinstance(then, exp.Update):
            then.set("expressions", [exp.EQ(this=column, expression=value) for column, value in pairs])
        else:
            then.set("this", exp.Tuple(expressions=[column for column, _ in pairs]))
            then.set("expression", exp.Tuple(expressions=[value for _, value in pairs]))
    return e


def _is_star(then: exp.Expr) -> bool:
    if isinstance(then, exp.Update):
        return len(then.expressions) == 1 and isinstance(then.expressions[0], exp.Star)
    return isinstance(then, exp.Insert) and isinstance(then.this, exp.Star)


def _alias(node: exp.Expr) -> str:
    alias = node.args.get("alias")
    return quote_duck(alias.name) if alias is not None else quote_duck(node.name)


def _repeated_matches_sql(meta: TableMeta, target: str, source: str, on: str, alias: str) -> str:
    """SQL counting target rows that several source rows match. DuckDB's `rowid` identifies a row unless a
    table column has that name; then rows are compared by value: matches per distinct value above the number
    of identical rows mean a row matched twice."""
    if meta.column("rowid") is None:
        return f"SELECT count(*) FROM (SELECT 1 FROM {target} JOIN {source} ON {on} GROUP BY {alias}.rowid HAVING count(*) > 1)"
    names = [quote_duck(c.name) for c in meta.columns]
    same = " AND ".join(f"x.{n} IS NOT DISTINCT FROM j.{n}" for n in names)
    return (
        f"SELECT count(*) FROM (SELECT {', '.join(f'{alias}.{n}' for n in names)}, count(*) AS __dbload_n "
        f"FROM {target} JOIN {source} ON {on} GROUP BY ALL) AS j "
        f"WHERE j.__dbload_n > (SELECT count(*) FROM {meta.duck} AS x WHERE {same})"
    )
