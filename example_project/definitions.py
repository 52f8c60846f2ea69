"""The example code location."""

import dagster as dg

defs = dg.Definitions()
