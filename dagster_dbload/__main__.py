"""`python -m dagster_dbload doctor`: the same as the `dagster-dbload` console script."""

from .doctor import entry_point

entry_point()
