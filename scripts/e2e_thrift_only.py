"""pytest plugin for scripts/connector_e2e.py: deselects the parametrized cases of the connector's suite that
run on the SEA or kernel backend (`extra_params` with use_sea / use_kernel), which a Thrift server cannot serve,
and points the connector at the server's port (the suite connects to host:443, which needs root to serve)."""

from __future__ import annotations

import os


def pytest_configure(config) -> None:
    port = os.environ.get("DBLOAD_E2E_PORT")
    if not port:
        return
    from databricks import sql

    connect = sql.connect

    def connect_to_port(*args, **kwargs):
        kwargs.setdefault("_port", int(port))  # the connector's own option for a port other than 443
        return connect(*args, **kwargs)

    sql.connect = connect_to_port


def _other_backend(item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(isinstance(v, dict) and (v.get("use_sea") or v.get("use_kernel")) for v in params.values())


def pytest_collection_modifyitems(config, items) -> None:
    deselected = [item for item in items if _other_backend(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not _other_backend(item)]
