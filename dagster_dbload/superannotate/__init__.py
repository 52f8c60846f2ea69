"""SuperAnnotate -> Databricks: a sensor that requests runs when items change, and an asset that merges
chosen annotation components, as typed columns, into one Delta table."""

from .assets import SuperAnnotateItem, SuperAnnotateRun, build_superannotate_asset, build_superannotate_sensor
from .extract import SuperAnnotateConfigError, SuperAnnotateDataError
from .sources import (
    LocalSuperAnnotateExport,
    SAItem,
    SuperAnnotateError,
    SuperAnnotateResource,
    SuperAnnotateSource,
)

__all__ = [
    "LocalSuperAnnotateExport",
    "SAItem",
    "SuperAnnotateConfigError",
    "SuperAnnotateDataError",
    "SuperAnnotateError",
    "SuperAnnotateItem",
    "SuperAnnotateResource",
    "SuperAnnotateRun",
    "SuperAnnotateSource",
    "build_superannotate_asset",
    "build_superannotate_sensor",
]
