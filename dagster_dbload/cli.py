"""The `dagster-dbload` command: `doctor` checks a configuration before the first run; `warehouse serve` runs
the local SQL warehouse for clients that speak Databricks' protocol (dbt-databricks, databricks-sql-connector,
SQLAlchemy) and prints a ready dbt profile."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Sequence

import yaml


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dagster-dbload", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    doctor = commands.add_parser("doctor", help="check the configuration before the first run")
    doctor.add_argument("-m", "--module", help="a code location module whose Definitions to check")
    warehouse = commands.add_parser("warehouse", help="the local SQL warehouse")
    serve = warehouse.add_subparsers(dest="action", required=True).add_parser(
        "serve", help="serve the local warehouse on 127.0.0.1 and print a dbt-databricks profile for it"
    )
    serve.add_argument("--path", default=".dbload/warehouse.duckdb", help="the warehouse file (kept between runs)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--catalog", default="main")
    serve.add_argument("--schema", default="default", help="created if missing; dbt's target schema")
    serve.add_argument("--token", default="dapi-local-test-token", help="the access token clients must send")
    serve.add_argument("--profile", default="dbload_local", help="the dbt profile name to print")
    serve.add_argument("--threads", type=int, default=4, help="dbt's threads in the printed profile")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    if args.command == "doctor":
        from .doctor import from_environment, from_module, run, table

        checks = run(from_module(args.module) if args.module else from_environment())
        print(table(checks))
        return 0 if all(c.ok for c in checks) else 1
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from .local.server import LocalSQLWarehouseServer
    from .sql import create_schema

    with LocalSQLWarehouseServer(path=args.path, access_token=args.token, port=args.port) as server:
        with server.warehouse.connect() as connection:  # dbt needs its target schema to exist
            connection.cursor().execute(create_schema(args.catalog, args.schema))
        target = server.dbt_target(args.catalog, args.schema, args.threads)
        profile = {args.profile: {"target": "local", "outputs": {"local": target}}}
        print(f"# Serving {os.path.abspath(args.path)} at {server.url} (Ctrl-C stops it). A profiles.yml entry:\n")
        print(yaml.safe_dump(profile, sort_keys=False), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def entry_point() -> None:
    sys.exit(main())
