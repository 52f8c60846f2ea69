"""`python -m dagster_dbload ...`: the same as the `dagster-dbload` console script."""

from .cli import entry_point

entry_point()
