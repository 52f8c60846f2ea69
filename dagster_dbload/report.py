"""What a materialization reports: a pure function from the request, the plan, the staged files and the
load's outcome to Dagster metadata (the README's table of entries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagster import MetadataValue, TableColumn, TableSchema

from . import guard, loader, sql
from .request import WriteRequest
from .staging import StagedFiles


@dataclass(frozen=True)
class Outcome:
    """What the load did, as the warehouse answered."""

    rows: int | None  # rows of the table (or partition) after the load; current versions for scd2 (None: not asked)
    version: int | None  # the table's Delta version after the load (None: not asked)
    counts: dict[str, int] = field(default_factory=dict)  # inserted / updated / deleted, from the load's answer
    history_rows: int | None = None  # scd2: every version
    seconds_loading: float = 0.0
    conflict_retries: int = 0
    statements: tuple[str, ...] = ()  # every statement that ran, redacted


def load_counts(answer: Any) -> dict[str, int]:
    """Rows inserted / updated / deleted, from the load statement's own answer (exact even with other writers)."""
    names = {"num_inserted_rows": "inserted", "num_updated_rows": "updated", "num_deleted_rows": "deleted"}
    values = answer.asDict() if answer is not None and hasattr(answer, "asDict") else {}
    return {names[k]: int(v) for k, v in values.items() if k in names and v is not None}


def metadata(
    request: WriteRequest, plan: loader.Plan, staged: StagedFiles, outcome: Outcome, url: str | None, deleted: bool,
    check: guard.Check | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The materialization's metadata."""
    settings = request.settings
    scd2 = settings.mode == "scd2"
    history = settings.scd2.specs() if scd2 else []
    rows_key = "dagster/partition_row_count" if request.partitions else "dagster/row_count"
    return {
        **({rows_key: outcome.rows} if outcome.rows is not None else {}),
        "dagster/table_name": str(request.ref),
        **({"dagster/uri": MetadataValue.url(url)} if url else {}),
        "dagster/column_schema": TableSchema(
            columns=[TableColumn(c.name, c.type.lower(), description=c.comment) for c in [*plan.columns, *history]]
        ),
        "dbload/sql": MetadataValue.md(sql.markdown([s for s in outcome.statements if not sql.is_bookkeeping(s)])),
        "dbload/bookkeeping_sql": MetadataValue.json([s for s in outcome.statements if sql.is_bookkeeping(s)]),
        "dbload/write_mode": settings.mode,
        **({"dbload/valid_from": MetadataValue.timestamp(request.valid_at)} if scd2 and request.valid_at else {}),
        **({"dbload/history_rows": outcome.history_rows} if outcome.history_rows is not None else {}),
        **{f"dbload/rows_{k}": v for k, v in outcome.counts.items()},
        "dbload/staged_rows": staged.rows,
        "dbload/staged_files": len(staged.files),
        "dbload/staged_bytes": staged.bytes,
        "dbload/staged_size": size(staged.bytes),
        "dbload/staged_url": staged.url,
        "dbload/staged_files_deleted": deleted,
        "dbload/seconds_staging": round(staged.seconds, 3),
        "dbload/seconds_loading": round(outcome.seconds_loading, 3),
        **({"dbload/table_version": outcome.version} if outcome.version is not None else {}),
        "dbload/conflict_retries": outcome.conflict_retries,
        **({guard.BASE_VERSION: check.base} if check is not None else {}),
        **({guard.FOREIGN: MetadataValue.json(list(check.foreign))} if check is not None and check.foreign else {}),
    }


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError  # unreachable
