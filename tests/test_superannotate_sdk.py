"""SuperAnnotateResource drives the real `superannotate` SDK, whose HTTP requests (requests and aiohttp)
reach a local stand-in of SuperAnnotate's services serving payloads shaped like the SDK's own test data."""

import datetime as dt
import json
import logging
from contextlib import contextmanager

import dagster as dg
import pytest
from superannotate_api import FakeSuperAnnotate, route_sdk_to

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from dagster_dbload.superannotate import (
    SuperAnnotateError,
    SuperAnnotateResource,
    build_superannotate_asset,
    build_superannotate_sensor,
)

TOKEN = "sa_" + "k3y" * 12


def item(n: int, folder: str, status: str, updated: str, data: dict) -> dict:
    return {"metadata": {"id": n, "name": f"item_{n:03d}", "folder_name": folder, "status": status,
                         "updatedAt": updated}, "data": data}  # fmt: skip


@pytest.fixture
def fake():
    fake = FakeSuperAnnotate("QA Review", TOKEN).start()
    # the SDK's tests/data_set/multimodal fixture: multi-select, text input and number components
    fake.add_item(
        item(
            1,
            "test_folder",
            "Completed",
            "2024-05-01T10:00:00.000Z",
            {
                "component_id_0": {"value": ["Partially complete, needs review"]},
                "component_id_1": {"value": "I am a text input 001"},
                "component_id_2": {"value": 11},
            },
        )
    )
    fake.add_item(
        item(
            2,
            "root",
            "Completed",
            "2024-05-01T11:00:00.000Z",
            {
                "component_id_1": {"value": "root item"},
                "component_id_2": {"value": 12},
                "turn_rating": [
                    {"value": 3, "element_path": ["turns", 0, "turn_rating"]},
                    {"value": 5, "element_path": ["turns", 1, "turn_rating"]},
                ],
            },
        )
    )
    fake.add_item(item(3, "other", "InProgress", "2024-05-01T12:00:00.000Z", {"component_id_1": {"value": "wip"}}))
    fake.add_item(item(4, "other", "Completed", "2024-05-01T09:00:00.000Z", {"component_id_2": {"value": 13}}))
    with route_sdk_to(fake):
        yield fake
    fake.stop()  # fmt: skip


def resource(**kwargs) -> SuperAnnotateResource:
    return SuperAnnotateResource(token=TOKEN, project="QA Review", backoff_seconds=0.01, **kwargs)


def test_lists_completed_items_across_all_folders(fake):
    pages = list(resource().list_items(["Completed"], page_size=2))
    items = [i for page in pages for i in page]
    assert [len(p) for p in pages] == [2, 1]
    assert sorted((i.id, i.folder, i.status, i.updated_at) for i in items) == [
        (1, "test_folder", "Completed", "2024-05-01T10:00:00.000Z"),
        (2, "root", "Completed", "2024-05-01T11:00:00.000Z"),
        (4, "other", "Completed", "2024-05-01T09:00:00.000Z"),
    ]
    since = dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)
    assert sorted(i.id for p in resource().list_items(["Completed"], since) for i in p) == [1, 2]
    assert sorted(i.id for p in resource().list_items(["InProgress", "Completed"], since) for i in p) == [1, 2, 3]


def test_gets_items_by_id_in_one_search_of_the_project(fake):
    items = resource().get_items([4, 1, 99])  # 99 does not exist
    assert [(i.id, i.folder, i.status) for i in items] == [(1, "test_folder", "Completed"), (4, "other", "Completed")]
    assert fake.searches() == 1


def test_gets_multimodal_annotations_by_id(fake):
    annotations = resource().get_annotations([1, 2])
    assert annotations[1] == {
        "component_id_0": {"value": ["Partially complete, needs review"]},
        "component_id_1": {"value": "I am a text input 001"},
        "component_id_2": {"value": 11},
    }
    assert annotations[2]["turn_rating"][1] == {"value": 5, "element_path": ["turns", 1, "turn_rating"]}
    download = [p for m, p in fake.requests if p.endswith("/items/annotations/download")]
    assert download == ["/assets-provider/api/v4/items/annotations/download"]


def test_429_and_5xx_are_retried_with_backoff(fake, caplog):
    fake.fail_next(429, 2, path="/items/search")
    fake.fail_next(500, 1, path="/api/v1/projects")
    fake.fail_next(429, 1, path="/items/annotations/download")
    sa = resource()
    with caplog.at_level(logging.WARNING):
        items = [i for page in sa.list_items(["Completed"]) for i in page]
        annotations = sa.get_annotations([i.id for i in items])
    assert sorted(annotations) == [1, 2, 4]
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 4
    assert not fake._failures


def test_429s_are_seen_on_sessions_the_sdk_makes_mid_call(fake, caplog, monkeypatch):
    """The SDK hands out a new HTTP session per thread and per six-minute period: a retry that crossed a period (or
    ran on another thread) used a session made after the previous attempt, and its 429 went unseen (the flake)."""
    import sys
    import threading
    import time
    import types

    sa = resource()
    http_client = sys.modules[type(sa.client().controller.service_provider.client).__module__]  # the SDK's own import
    clock = iter(range(0, 10**9, 360))  # every session lookup falls in a new six-minute period
    monkeypatch.setattr(http_client, "time", types.SimpleNamespace(time=lambda: next(clock), sleep=time.sleep))
    fake.fail_next(429, 3, path="/items/search")
    found: list = []
    with caplog.at_level(logging.WARNING):
        worker = threading.Thread(target=lambda: found.extend(i for p in sa.list_items(["Completed"]) for i in p))
        worker.start()
        worker.join()
    assert sorted(i.id for i in found) == [1, 2, 4]
    assert len([r for r in caplog.records if "HTTP [429], retrying" in r.getMessage()]) == 3
    assert not fake._failures


def test_retry_after_is_honoured(fake, caplog):
    fake.fail_next(429, 1, path="/items/search", retry_after=2.5)
    with caplog.at_level(logging.WARNING):
        items = [i for page in resource().list_items(["Completed"]) for i in page]
    assert items
    waits = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert waits == ["SuperAnnotate items/search: HTTP [429], retrying in 2.5s"]  # not the 0.01 s backoff


def test_a_lasting_outage_fails_after_max_attempts(fake):
    fake.fail_next(503, 100, path="/items/search")
    with pytest.raises(SuperAnnotateError, match=r"items/search failed .*after 3 attempt"):
        list(resource(max_attempts=3).list_items(["Completed"]))


def test_a_wrong_token_says_what_to_check_and_hides_the_token(fake):
    bad = "sa_" + "x" * 40
    with pytest.raises(SuperAnnotateError, match="Check SA_TOKEN") as raised:
        SuperAnnotateResource(token=bad, project="QA Review").get_annotations([1])
    assert bad not in str(raised.value)


def test_an_unknown_project_is_not_retried(fake):
    with pytest.raises(SuperAnnotateError, match="project 'Nope' exists") as raised:
        list(SuperAnnotateResource(token=TOKEN, project="Nope").list_items(["Completed"]))
    assert "1 attempt" in str(raised.value)


def test_the_asset_loads_sdk_items_into_the_warehouse(fake, tmp_path):
    warehouse = LocalSQLWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    asset = build_superannotate_asset(
        sa_component_ids="component_id_0, component_id_1, component_id_2, turn_rating",
        databricks_columns="status_options, text, number, turn_ratings",
        db_schema="sa",
        db_table="qa",
    )
    resources = {"io_manager": DatabricksIOManager(warehouse=warehouse), "superannotate": resource()}
    for _ in range(2):
        assert dg.materialize([asset], resources=resources, instance=dg.DagsterInstance.ephemeral()).success
    with warehouse.connect() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT * FROM main.sa.qa ORDER BY sa_item_id")
        rows = cursor.fetchall_arrow().to_pylist()
    assert [(r["sa_item_id"], r["sa_folder"], r["sa_project"]) for r in rows] == [
        (1, "test_folder", "QA Review"), (2, "root", "QA Review"), (4, "other", "QA Review")
    ]  # fmt: skip
    assert rows[0]["status_options"] == ["Partially complete, needs review"] and rows[0]["number"] == 11
    assert rows[1]["turn_ratings"] == [3, 5] and rows[1]["status_options"] is None
    assert json.dumps(rows, default=str).count(TOKEN) == 0


def test_custom_workflow_statuses_are_checked_against_the_project():
    fake = FakeSuperAnnotate("QA Review", TOKEN, statuses=["Draft", "Reviewed", "Published"]).start()
    fake.add_item(item(1, "root", "Reviewed", "2024-05-01T10:00:00.000Z", {"component_id_1": {"value": "ok"}}))
    fake.add_item(item(2, "root", "Draft", "2024-05-01T10:00:00.000Z", {"component_id_1": {"value": "wip"}}))
    try:
        with route_sdk_to(fake):
            items = [i for page in resource().list_items(["Reviewed"]) for i in page]
            assert [(i.id, i.status) for i in items] == [(1, "Reviewed")]
            with pytest.raises(ValueError, match=r"statuses \['Completed'\] are not in the project's workflow, whose "
                                                 r"statuses are \['Draft', 'Reviewed', 'Published'\]"):  # fmt: skip
                list(resource().list_items(["Completed"]))
    finally:
        fake.stop()


def test_annotations_without_component_data_are_fetched_again_or_fail_the_run(fake):
    fake.default_format[1] = 1  # once in the default format, then as asked
    assert resource().get_annotations([1, 2])[1] == {
        "component_id_0": {"value": ["Partially complete, needs review"]},
        "component_id_1": {"value": "I am a text input 001"},
        "component_id_2": {"value": 11},
    }
    fake.default_format[2] = 2  # twice: never loaded as NULLs
    with pytest.raises(SuperAnnotateError, match=r"returned items \[2\] .* twice without their component data"):
        resource().get_annotations([1, 2])


# --- the sensor's tick through the SDK: what it asks the server, and exactly-once while items change ----------

T0 = dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)


def at(minutes: float = 0) -> str:
    return f"{T0 + dt.timedelta(minutes=minutes):%Y-%m-%dT%H:%M:%S}.000Z"


@contextmanager
def serving(*items: dict, max_limit: int | None = None):
    fake = FakeSuperAnnotate("QA Review", TOKEN).start()
    fake.add_items(items)
    fake.max_limit = max_limit  # rows per search page, so that a few items take several pages
    try:
        with route_sdk_to(fake), dg.instance_for_test() as instance:
            yield fake, instance
    finally:
        fake.stop()


def sensor_for(**kwargs):
    asset = build_superannotate_asset(sa_component_ids="component_id_1", project="QA Review")
    return asset, build_superannotate_sensor(asset, batch_size=1000, **kwargs)


def tick(sensor, cursor, instance):
    return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources={"superannotate": resource()}))


def requested(asset, result) -> list[tuple[int, str]]:
    """The (item id, updatedAt) versions a tick requested runs for."""
    configs = [r.run_config["ops"][asset.op.name]["config"] for r in result.run_requests]
    return sorted((i["id"], i["updated_at"]) for c in configs for i in c["items"])


def test_a_tick_makes_the_same_requests_on_1000_and_20000_items():
    """The issue: a tick listed every item of the project. Now the server filters on status and updatedAt, so
    10 changed items cost the same requests (and rows) on 1,000 items in one folder as on 20,000 in five."""
    seen = {}
    for size in (1_000, 20_000):
        project = [item(i, f"batch_{i // 5000}", "Completed", at(i - size), {}) for i in range(1, size + 1)]
        with serving(*project) as (fake, instance):
            asset, sensor = sensor_for()
            last = tick(sensor, None, instance)  # the first tick requests every item
            assert len(requested(asset, last)) == size
            changed = [size * k // 11 for k in range(1, 11)]
            fake.add_items(item(i, f"batch_{i // 5000}", "Completed", at(k), {}) for k, i in enumerate(changed, 1))
            fake.requests.clear()
            fake.rows_served = 0
            result = tick(sensor, last.cursor, instance)
            assert [i for i, _ in requested(asset, result)] == changed
            seen[size] = (len(fake.requests), fake.searches(), fake.rows_served)
    assert seen[1_000] == seen[20_000] == (7, 1, 16)  # 16 rows: the 10, and the 6 in the 5-minute lookback


def test_paging_by_id_skips_no_item_when_another_leaves_between_pages():
    """Offset paging would skip item 4: item 2 leaving the matches after page 1 shifts it onto page 1's offsets."""
    with serving(*(item(i, "root", "Completed", at(), {}) for i in range(1, 9)), max_limit=3) as (fake, _):
        fake.after_request("/items/search", lambda: fake.add_item(item(2, "root", "InProgress", at(1), {})))
        pages = list(resource().list_items(["Completed"]))
        assert [i.id for page in pages for i in page] == [1, 2, 3, 4, 5, 6, 7, 8]  # 2 as read before it left
        assert fake.searches() == 3


def test_an_item_changed_during_a_tick_is_requested_once_per_version():
    """Between the tick's first and second search page, item 2 (already read) and item 7 (not yet) change."""
    with serving(*(item(i, "root", "Completed", at(i), {}) for i in range(1, 9)), max_limit=3) as (fake, instance):
        asset, sensor = sensor_for()

        def edit() -> None:
            fake.add_item(item(2, "root", "Completed", at(20), {}))
            fake.add_item(item(7, "root", "Completed", at(20), {}))

        fake.after_request("/items/search", edit)
        first = tick(sensor, None, instance)
        assert requested(asset, first) == [(i, at(20) if i == 7 else at(i)) for i in range(1, 9)]
        second = tick(sensor, first.cursor, instance)
        assert requested(asset, second) == [(2, at(20))]  # its new version: within the look-back window
        assert tick(sensor, second.cursor, instance).run_requests == []


def test_items_tying_on_updated_at_are_all_requested_across_pages_and_ticks():
    """No look-back: the watermark alone must keep ties, within a tick (one row a page) and across ticks."""
    with serving(*(item(i, "root", "Completed", at(), {}) for i in (1, 2, 3)), max_limit=1) as (fake, instance):
        asset, sensor = sensor_for(lookback_seconds=0)
        first = tick(sensor, None, instance)
        assert requested(asset, first) == [(1, at()), (2, at()), (3, at())]
        assert json.loads(first.cursor)["watermark"] == at()
        fake.add_item(item(4, "root", "Completed", at(), {}))  # lands after the tick, with the watermark's time
        fake.add_item(item(5, "root", "Completed", at(1 / 60), {}))
        second = tick(sensor, first.cursor, instance)
        assert requested(asset, second) == [(4, at()), (5, at(1 / 60))]
        assert tick(sensor, second.cursor, instance).run_requests == []


def test_a_server_that_refuses_the_updated_at_filter_is_read_in_full(fake, caplog):
    fake.filterable.discard("updatedAt")
    since = dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone.utc)
    with caplog.at_level(logging.WARNING):
        items = [i for page in resource().list_items(["Completed"], since) for i in page]
    assert sorted(i.id for i in items) == [1, 2]  # the same items, updatedAt compared here
    assert fake.rows_served == 3  # the refused search answered none; the search without it, all 3 Completed
    assert "refused the search" in caplog.text and "ignored the updatedAt filter" not in caplog.text
