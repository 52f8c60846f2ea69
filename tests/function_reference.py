"""Databricks' function reference as a conformance suite: each documented example (tests/data/
function_examples.json, with its source page) runs on a warehouse and is classified as a match, refused (an
error with an error class), or wrong (an answer other than the documented one).

    python tests/function_reference.py [local|server]     # prints the counts and every example that is not a match
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

EXAMPLES = json.loads((Path(__file__).parent / "data" / "function_examples.json").read_text())


def shown(value: Any) -> str:
    """A value as Databricks' documentation shows it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], tuple) and len(value[0]) == 2:
        return "{" + ", ".join(f"{shown(k)} -> {shown(v)}" for k, v in value) + "}"  # a MAP as (key, value) pairs
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _normal(text: str) -> str:
    return re.sub(r"[\s\"']", "", text).lower()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def same(documented: str, got: str) -> bool:
    """Equal as documented text, ignoring quotes and spacing between values, and numbers equal to 12 digits."""
    if documented == got or _normal(documented) == _normal(got):
        return True
    docs, ours = documented.split(), got.split()
    if len(docs) != len(ours) or not docs:
        return False
    for d, o in zip(docs, ours, strict=True):
        a, b = _number(d), _number(o)
        if a is None or b is None:
            if _normal(d) != _normal(o):
                return False
        elif not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12):
            return False
    return True


def classify(cursor: Any, example: dict) -> tuple[str, str]:
    """("match" | "refused" | "wrong", what the warehouse answered)."""
    try:
        cursor.execute(example["query"])
        rows = [list(row.values()) for row in cursor.fetchall_arrow().to_pylist()]  # Arrow: NaN stays NaN
    except Exception as e:  # noqa: BLE001 - any error with an error class is a refusal, not an answer
        message = str(e)
        return ("refused" if re.search(r"\[[A-Z_.]+\]", message) else "wrong"), message.splitlines()[0][:200]
    got = "\n".join("  ".join(shown(v) for v in row) for row in rows)
    return ("match" if same(example["result"], got) else "wrong"), got


def run(cursor: Any) -> dict[str, list[tuple[dict, str]]]:
    outcome: dict[str, list[tuple[dict, str]]] = {"match": [], "refused": [], "wrong": []}
    for example in EXAMPLES:
        kind, got = classify(cursor, example)
        outcome[kind].append((example, got))
    return outcome


def main(kind: str) -> int:
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from backends import backend

    with tempfile.TemporaryDirectory() as work, backend(kind, Path(work)) as b, b.warehouse.connect() as connection:
        outcome = run(connection.cursor())
    for label in ("refused", "wrong"):
        for example, got in outcome[label]:
            print(f"{label:7s} {example['query']!r}\n        documented {example['result']!r}, got {got!r}")
    print(", ".join(f"{len(v)} {k}" for k, v in outcome.items()) + f" of {len(EXAMPLES)} documented examples")
    return 1 if outcome["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "local"))
