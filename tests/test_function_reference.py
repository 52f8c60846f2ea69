"""Databricks' function reference as a conformance suite (tests/function_reference.py over the documented examples
in tests/data/function_examples.json): on both warehouses no example is answered differently; each either
matches or is refused with an error class."""

import pytest
from backends import backend as make_backend
from function_reference import EXAMPLES, run

MATCHED = 175  # of 252 on 2026-12-05; raise it as functions are added


@pytest.mark.parametrize("kind", ["local", "server"])
def test_every_documented_example_matches_or_is_refused(kind, tmp_path):
    with make_backend(kind, tmp_path) as backend, backend.warehouse.connect() as connection:
        outcome = run(connection.cursor())
    wrong = [f"{e['query']!r}: documented {e['result']!r}, got {got!r} ({e['page']})" for e, got in outcome["wrong"]]
    assert wrong == []
    assert len(outcome["match"]) >= MATCHED and len(outcome["match"]) + len(outcome["refused"]) == len(EXAMPLES)
