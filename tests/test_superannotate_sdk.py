"""SuperAnnotateResource drives the real `superannotate` SDK, whose HTTP requests (requests and aiohttp)
reach a local stand-in of SuperAnnotate's services serving payloads shaped like the SDK's own test data."""

import datetime as dt
import json
import logging

import dagster as dg
import pytest
from superannotate_api import FakeSuperAnnotate, route_sdk_to

from dagster_dbload import DatabricksIOManager, LocalSQLWarehouse
from dagster_dbload.superannotate import SuperAnnotateError, SuperAnnotateResource, build_superannotate_asset

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
    assert waits == ["SuperAnnotate list_items(root): HTTP [429], retrying in 2.5s"]  # not the 0.01 s backoff


def test_a_lasting_outage_fails_after_max_attempts(fake):
    fake.fail_next(503, 100, path="/items/search")
    with pytest.raises(SuperAnnotateError, match=r"list_items\(root\) failed .*after 3 attempt"):
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
