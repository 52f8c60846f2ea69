"""The one type rule the IO manager's plans and the local warehouse's writes share (dagster_dbload/types.py)."""

import pytest

from dagster_dbload.types import canonical_type, fits


@pytest.mark.parametrize(
    "source, target, cast, expected",
    [
        ("INT", "int", False, True),  # one type, two spellings
        ("int", "bigint", False, True),  # Delta type widening
        ("float", "double", False, True),
        ("bigint", "int", False, False),  # narrowing loses values
        ("int", "double", False, False),  # not a widening...
        ("int", "double", True, True),  # ...but written as DOUBLE as it is
        ("decimal(10,2)", "decimal(12,2)", False, True),
        ("decimal(10,2)", "decimal(12,4)", False, True),
        ("decimal(10,2)", "decimal(10,3)", False, False),  # one integral digit fewer
        ("decimal(10,2)", "decimal(11,1)", False, False),  # one decimal fewer
        ("string", "int", True, False),
        ("array<int>", "array<bigint>", True, False),
    ],
)
def test_fits(source, target, cast, expected):
    assert fits(source, target, cast=cast) is expected


def test_canonical_type_spells_each_type_once():
    assert canonical_type("INTEGER") == canonical_type("int") == "int"
    assert canonical_type("DECIMAL(10,2)") == canonical_type("decimal(10, 2)") == "decimal(10, 2)"
