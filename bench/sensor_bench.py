"""SuperAnnotate sensor benchmark: one tick on projects of 1,000 / 10,000 / 100,000 items of which 10 changed
since the last tick, against the fake SuperAnnotate server of the tests (the real SDK, HTTP on localhost).

    python bench/sensor_bench.py [--sizes N,M,...] [--changed K] [--runs R]

Counted at the server: HTTP requests of the tick and item rows its searches answered with. Seconds are the
median tick, server work included (it runs in this process). Cases:

- `server filter`: the sensor as it is, one item search over the project filtered on status and updatedAt.
- `filter refused`: the same server refusing the updatedAt filter, so the resource reads every item in the
  statuses instead (what the tick costs where the API has no such filter).
- `per folder`: the listing before the filter, kept here for comparison: list_items folder by folder with the
  status filter, updatedAt compared in Python.

The cursor is the one the last tick left (`advance` over the unchanged items, as the sensor computes it); a
quarter of the items are InProgress, the rest Completed, 10,000 items a folder, one updatedAt a minute.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_ROOT, "tests"))
import dagster as dg  # noqa: E402
from superannotate_api import FakeSuperAnnotate, route_sdk_to  # noqa: E402

from dagster_dbload.superannotate import (  # noqa: E402
    SAItem,
    SuperAnnotateResource,
    build_superannotate_asset,
    build_superannotate_sensor,
)
from dagster_dbload.superannotate.cursor import Cursor, advance  # noqa: E402
from dagster_dbload.superannotate.sources import _pages, check_statuses  # noqa: E402

TOKEN = "sa_" + "b3nch" * 8
NOW = datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
PER_FOLDER = 10_000
CASES = ["server filter", "filter refused", "per folder"]


class PerFolder(SuperAnnotateResource):
    """The listing before the server-side filter: every item in the statuses, folder by folder."""

    def list_items(
        self, statuses: Sequence[str], updated_since: datetime | None = None, page_size: int = 500
    ) -> Iterator[list[SAItem]]:
        wanted = check_statuses(statuses, self.workflow_statuses())
        client = self.client()
        folders = self._call("list_folders", lambda: client.list_folders(self.project))

        def items() -> Iterator[SAItem]:
            for folder in ["root"] + sorted({f["name"] for f in folders} - {"root"}):
                where = None if folder == "root" else folder
                list_items = functools.partial(client.list_items, self.project, where, annotation_status__in=wanted)
                for row in self._call(f"list_items({folder})", list_items):
                    item = SAItem(int(row["id"]), row["name"], folder, row["annotation_status"], row["updatedAt"])
                    if updated_since is None or item.updated >= updated_since:
                        yield item

        yield from _pages(items(), page_size)


def stamp(t: datetime) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S}.000Z"


def doc(i: int, status: str, updated: datetime) -> dict[str, Any]:
    folder = f"batch_{(i - 1) // PER_FOLDER + 1:03d}"
    meta = {"id": i, "name": f"item_{i:06d}", "folder_name": folder, "status": status, "updatedAt": stamp(updated)}
    return {"metadata": meta, "data": {}}


def tick(size: int, changed: int, case: str) -> dict[str, float]:
    """One measured tick: a fresh server and resource, the last tick's cursor, `changed` items moved on."""
    fake = FakeSuperAnnotate("Bench", TOKEN).start()
    try:
        statuses = ["InProgress" if i % 4 == 0 else "Completed" for i in range(size + 1)]
        docs = [doc(i, statuses[i], NOW - timedelta(minutes=size - i)) for i in range(1, size + 1)]
        fake.add_items(docs)
        asset = build_superannotate_asset(sa_component_ids="a", project="Bench")
        sensor = build_superannotate_sensor(asset)
        lookback = timedelta(seconds=300)
        metas = [d["metadata"] for d in docs if d["metadata"]["status"] == "Completed"]
        seen = [SAItem(m["id"], m["name"], m["folder_name"], m["status"], m["updatedAt"]) for m in metas]
        cursor = advance(Cursor(), seen, lookback)[1].dumps()
        moved = [size * (k + 1) // (changed + 1) for k in range(changed)]  # spread over the folders
        fake.add_items(doc(i, "Completed", NOW + timedelta(minutes=k + 1)) for k, i in enumerate(moved))
        if case == "filter refused":
            fake.filterable.discard("updatedAt")
        source = (PerFolder if case == "per folder" else SuperAnnotateResource)(token=TOKEN, project="Bench")
        fake.requests.clear()
        fake.rows_served = 0
        with route_sdk_to(fake), dg.instance_for_test() as instance:
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"superannotate": source})
            start = time.perf_counter()
            result = sensor(context)
            seconds = time.perf_counter() - start
        configs = [r.run_config["ops"][asset.op.name]["config"] for r in result.run_requests]
        assert sorted(i["id"] for c in configs for i in c["items"]) == sorted(moved), case
        return {"requests": len(fake.requests), "rows": fake.rows_served, "seconds": seconds}
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000", help="items per project, comma-separated")
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    cases = args.cases.split(",")
    tick(100, args.changed, cases[0])  # warm-up: the first tick of a process pays for imports and the SDK's setup
    lines = ["| items | case | HTTP requests | item rows read | tick s |", "|---:|---|---:|---:|---:|"]
    for size in (int(s) for s in args.sizes.split(",")):
        for case in cases:
            runs = [tick(size, args.changed, case) for _ in range(args.runs)]
            assert len({(r["requests"], r["rows"]) for r in runs}) == 1  # the counts depend on the data only
            seconds = statistics.median(r["seconds"] for r in runs)
            lines.append(f"| {size:,} | {case} | {runs[0]['requests']:.0f} | {runs[0]['rows']:,.0f} | {seconds:.3f} |")
    print(f"\nSuperAnnotate sensor tick, {args.changed} items changed since the last tick, medians of {args.runs} "
          f"({time.strftime('%Y-%m-%d')})\n")  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
