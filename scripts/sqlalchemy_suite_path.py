"""pytest plugin for scripts/sqlalchemy_suite.py: makes the suite's `test/` folder importable as
`databricks.sqlalchemy.test`, the name the suite's test_suite.py imports its skip lists by."""

from __future__ import annotations

import os

import databricks.sqlalchemy

databricks.sqlalchemy.__path__.append(os.environ["DBLOAD_SQLALCHEMY_SUITE"])
