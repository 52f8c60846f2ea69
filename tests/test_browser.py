"""The example code location under `dagster dev`, driven in headless Chromium: the Materialize button and the
SuperAnnotate sensor. Screenshots land in test-output/browser/."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dagster_dbload import LocalSQLWarehouse

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "test-output" / "browser"
CHROMIUM = os.environ.get("DBLOAD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
LOCATION = "example_project.definitions"


@dataclass
class DagsterDev:
    url: str
    warehouse: LocalSQLWarehouse
    export: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["data"]

    def sql(self, statement: str) -> list[tuple]:
        with self.warehouse.connect() as connection:
            cursor = connection.cursor()
            cursor.execute(statement)
            return [tuple(r) for r in cursor.fetchall()]


def wait_for(what: str, check: Callable[[], object], timeout: float = 120, every: float = 1.0) -> object:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as e:  # noqa: BLE001 - the server may still be starting
            last_error = e
        time.sleep(every)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory) -> Iterator[DagsterDev]:
    """`dagster dev` on 127.0.0.1 with a temporary DAGSTER_HOME, warehouse file and export folder."""
    root = tmp_path_factory.mktemp("dagster_dev")
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    export = root / "export"
    shutil.copytree(REPO / "example_project" / "superannotate_export", export)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "SA_"))}
    env.update(
        DAGSTER_HOME=str(home),
        DBLOAD_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"),
        DBLOAD_SA_EXPORT=str(export),
        PYTHONUNBUFFERED="1",
    )
    OUTPUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(OUTPUT / "dagster-dev.log", "w")  # noqa: SIM115 - closed in teardown
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so teardown stops the daemon and code servers too
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # dagster dev maps SIGTERM to SIGINT
    )
    server = DagsterDev(f"http://127.0.0.1:{port}", LocalSQLWarehouse(path=env["DBLOAD_WAREHOUSE"]), export)
    try:
        wait_for(
            "the webserver", lambda: process.poll() is None and urllib.request.urlopen(f"{server.url}/server_info")
        )
        query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
        wait_for(
            "the code location to load",
            lambda: any(
                e["name"] == LOCATION and e["loadStatus"] == "LOADED"
                for e in server.graphql(query)["workspaceOrError"]["locationEntries"]
            ),
        )
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: run ./scripts/test, which installs Debian's chromium (or set DBLOAD_CHROMIUM)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


RUNS = (
    "{ runsOrError(limit: 50) { ... on Runs { results { runId status assetSelection { path } tags { key value } } } } }"
)


def test_materialize_button_loads_the_table(dagster_dev, page):
    from playwright.sync_api import expect

    page.goto(f"{dagster_dev.url}/locations/{LOCATION}/asset-groups/shop")
    page.get_by_text("customers", exact=True).first.click()  # select the node in the asset graph
    page.get_by_role("button", name="Materialize selected").click()

    def launched() -> dict | None:
        runs = dagster_dev.graphql(RUNS)["runsOrError"]["results"]
        return next((r for r in runs if r["assetSelection"] == [{"path": ["shop", "customers"]}]), None)

    run = wait_for("the run the button launched", launched)
    run = wait_for(
        "the run to finish",
        lambda: (r := launched()) and r["status"] in ("SUCCESS", "FAILURE", "CANCELED") and r,
    )
    assert run["status"] == "SUCCESS", f"run {run['runId']} ended {run['status']}; see {OUTPUT / 'dagster-dev.log'}"
    page.goto(f"{dagster_dev.url}/runs/{run['runId']}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()

    assert dagster_dev.sql("SELECT count(*), count(DISTINCT customer_id) FROM main.shop.customers") == [(500, 500)]

    page.goto(f"{dagster_dev.url}/assets/shop/customers?view=events")
    row = page.locator("tr", has_text="dagster/row_count").first
    expect(row).to_contain_text("500")
    expect(page.locator("tr", has_text="dagster/table_name").first).to_contain_text("main.shop.customers")
    expect(page.locator("tr", has_text="dagster/uri").first).to_contain_text("file://")
    sql = page.locator("tr", has_text="dbload/sql").first  # markdown: pretty-printed SQL, not a JSON list
    page.screenshot(path=str(OUTPUT / "asset-events.png"), full_page=True)
    if sql.get_by_text("Show Markdown").count():  # Dagster opens longer markdown in a dialog
        sql.get_by_text("Show Markdown").click()
        sql = page.get_by_role("dialog")
        page.wait_for_timeout(500)  # the dialog fades in
        page.screenshot(path=str(OUTPUT / "asset-sql.png"), full_page=True)
    expect(sql).to_contain_text("CREATE TABLE")  # the first load: the table (and its schema), then the rows
    expect(sql).to_contain_text("INSERT OVERWRITE")
    expect(sql).not_to_contain_text('["')
    page.keyboard.press("Escape")

    page.goto(f"{dagster_dev.url}/assets/shop/customers")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    row_count = page.locator("div", has=page.get_by_text("Row count", exact=True)).filter(has_text="500")
    expect(row_count.last).to_be_visible()  # the Status section shows dagster/row_count
    expect(page.get_by_text("Customers of the shop.").first).to_be_visible()
    page.screenshot(path=str(OUTPUT / "materialized-asset.png"), full_page=True)

    page.goto(f"{dagster_dev.url}/assets/shop/customers?view=checks")  # build_table_checks ran with the asset
    for name in ("primary_key", "not_null", "rows_written"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    expect(page.get_by_text("Passed").first).to_be_visible()
    page.screenshot(path=str(OUTPUT / "asset-checks.png"), full_page=True)


# the sensor's rows, whatever the explore-action test (InProgress items) loaded before
COMPLETED = "SELECT count(*), count(DISTINCT sa_item_id) FROM main.annotations.qa_review WHERE sa_status = 'Completed'"


def test_sensor_loads_a_new_item(dagster_dev, page):
    from playwright.sync_api import expect

    # the sensor runs by default: its first ticks load the bundled export's completed items
    wait_for(
        "the sensor's first runs to load the bundled export",
        lambda: dagster_dev.sql(COMPLETED) == [(30, 30)],
        timeout=180,
        every=2,
    )
    doc = json.loads((dagster_dev.export / "item_001.json").read_text())
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    doc["metadata"].update(id=48909999, name="item_new", status="Completed", updatedAt=stamp)
    doc["data"]["prompt"] = {"value": "A new item dropped into the export."}
    (dagster_dev.export / "item_new.json").write_text(json.dumps(doc))

    rows = wait_for(
        "the sensor's run to load the new item",
        lambda: dagster_dev.sql(
            "SELECT sa_item_name, prompt FROM main.annotations.qa_review WHERE sa_item_id = 48909999"
        ),
        timeout=180,
        every=2,
    )
    assert rows == [("item_new", "A new item dropped into the export.")]
    assert dagster_dev.sql(COMPLETED) == [(31, 31)]

    runs = dagster_dev.graphql(RUNS)["runsOrError"]["results"]
    keys = [t["value"] for r in runs for t in r["tags"] if t["key"] == "dagster/run_key"]
    assert f"qa-review:48909999:{stamp}" in keys

    sensor_runs = [r for r in runs if any(t["key"] == "dagster/sensor_name" for t in r["tags"])]
    assert sensor_runs and all(r["assetSelection"] == [{"path": ["annotations", "qa_review"]}] for r in sensor_runs)

    page.goto(f"{dagster_dev.url}/locations/{LOCATION}/sensors/annotations__qa_review_sensor")
    expect(page.get_by_text("1 run requested").first).to_be_visible()
    expect(page.get_by_text("the lookback").first).to_be_visible()  # the description explains the cursor
    page.screenshot(path=str(OUTPUT / "sensor.png"), full_page=True)
    page.goto(f"{dagster_dev.url}/runs")
    target = page.get_by_text(re.compile(r"^annotations\s*/\s*qa_review$"))  # sensor runs name their target
    expect(target.first).to_be_visible()
    assert target.count() >= 4
    page.screenshot(path=str(OUTPUT / "sensor-runs.png"), full_page=True)


def test_the_explore_action_launches_a_run_that_loads_exactly_the_fired_items(dagster_dev, monkeypatch):
    from example_project.superannotate_action import handler

    monkeypatch.setenv("DAGSTER_URL", dagster_dev.url)
    fired = [48909306, 48909312]  # InProgress items: the sensor (Completed only) never loads them
    event = {"uuid": 2133139, "event": "Explore", "pipeline_id": 1395}  # as SuperAnnotate delivers it
    context = {"items": fired, "ts_ms": 1713561504615.6, "team_id": 7, "user_id": "qa@example.com", "project_id": 11}
    result = handler(event, context)
    assert result["items"] == fired

    def finished() -> dict | None:
        runs = dagster_dev.graphql(RUNS)["runsOrError"]["results"]
        run = next((r for r in runs if r["runId"] == result["run_id"]), None)
        return run if run and run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    run = wait_for("the action's run to finish", finished)
    assert run["status"] == "SUCCESS", f"see {OUTPUT / 'dagster-dev.log'}"
    assert run["assetSelection"] == [{"path": ["annotations", "qa_review"]}]
    assert dagster_dev.sql(
        "SELECT sa_item_id, sa_status FROM main.annotations.qa_review WHERE sa_status <> 'Completed' ORDER BY 1"
    ) == [(48909306, "InProgress"), (48909312, "InProgress")]


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


def launch_run(dagster_dev: DagsterDev, keys: list[list[str]], what: str, timeout: float = 120,
               checks: list[str] = (), tags: dict[str, str] | None = None) -> dict:  # fmt: skip
    """Launch a run of the asset job for `keys` (and the named checks of the first) through GraphQL, as the
    Materialize button does, and wait for it to end."""
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": k} for k in keys]}  # fmt: skip
    if checks:  # else every check of the assets runs (an empty list would run none)
        selector["assetCheckSelection"] = [{"assetKey": {"path": keys[0]}, "name": c} for c in checks]
    params = {
        "selector": selector,
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    launched = dagster_dev.graphql(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished() -> dict | None:
        runs = dagster_dev.graphql(RUNS)["runsOrError"]["results"]
        run = next((r for r in runs if r["runId"] == run_id), None)
        return run if run and run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    return wait_for(what, finished, timeout=timeout, every=2)


def test_an_scd2_asset_shows_its_history_and_checks(dagster_dev, page):
    from playwright.sync_api import expect

    for day in ("2024-06-01", "2024-06-02"):  # one at a time, oldest first, as scd2 history needs
        tags = {"dagster/partition": day}
        run = launch_run(
            dagster_dev, [["shop", "customer_tiers"]], f"the run of {day}", checks=["primary_key"], tags=tags
        )
        assert run["status"] == "SUCCESS", f"see {OUTPUT / 'dagster-dev.log'}"
    assert dagster_dev.sql("SELECT count(*), count_if(_valid_to IS NULL) FROM main.shop.customer_tiers") == [
        (550, 500)
    ]  # 50 customers moved up a tier on the second day

    page.goto(f"{dagster_dev.url}/assets/shop/customer_tiers?view=events")
    expect(page.locator("tr", has_text="dbload/history_rows").first).to_contain_text("550")
    expect(page.locator("tr", has_text="dbload/write_mode").first).to_contain_text("scd2")
    page.screenshot(path=str(OUTPUT / "scd2-events.png"), full_page=True)
    page.locator("tr", has_text="dbload/sql").first.get_by_text("Show Markdown").click()  # long SQL opens a dialog
    expect(page.get_by_role("dialog")).to_contain_text("MERGE INTO")
    page.wait_for_timeout(500)  # the dialog fades in
    page.screenshot(path=str(OUTPUT / "scd2-sql.png"), full_page=True)
    page.keyboard.press("Escape")
    page.goto(f"{dagster_dev.url}/assets/shop/customer_tiers?view=checks")
    expect(page.get_by_text("primary_key", exact=True).first).to_be_visible()
    expect(page.get_by_text("Passed").first).to_be_visible()  # one current version per customer
    page.screenshot(path=str(OUTPUT / "scd2-checks.png"), full_page=True)


def test_dbt_models_sit_between_python_assets_in_one_lineage_graph(dagster_dev, page):
    from playwright.sync_api import expect

    keys = [["shop", "orders"], ["shop", "customers"], ["analytics", "stg_orders"], ["analytics", "customer_revenue"],
            ["analytics", "order_status"], ["analytics", "top_customers"]]  # fmt: skip
    run = launch_run(dagster_dev, keys, "the dbt run", timeout=240)
    assert run["status"] == "SUCCESS", f"see {OUTPUT / 'dagster-dev.log'}"
    assert dagster_dev.sql("SELECT count(*) FROM main.analytics.top_customers") == [(20,)]
    assert dagster_dev.sql("SELECT count(*) FROM main.analytics.order_status") == [(20000,)]

    page.goto(f"{dagster_dev.url}/assets/analytics/customer_revenue?view=lineage&lineageDepth=2")
    for name in ("orders", "customers", "stg_orders", "customer_revenue", "top_customers"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    page.wait_for_timeout(1000)  # the graph lays itself out
    page.screenshot(path=str(OUTPUT / "dbt-lineage.png"), full_page=True)

    page.goto(f"{dagster_dev.url}/assets/analytics/customer_revenue?view=events")
    expect(page.locator("tr", has_text="dagster/row_count").first).to_contain_text("500")  # with_row_counts
    page.screenshot(path=str(OUTPUT / "dbt-events.png"), full_page=True)
    page.goto(f"{dagster_dev.url}/assets/analytics/customer_revenue?view=checks")  # dbt's tests, as checks
    expect(page.get_by_text("Passed").first).to_be_visible()
    for test in ("not_null", "unique"):  # long names middle-truncate: match their start
        expect(page.get_by_text(re.compile(f"^{test}_")).filter(visible=True).first).to_be_visible()
    page.screenshot(path=str(OUTPUT / "dbt-checks.png"), full_page=True)
