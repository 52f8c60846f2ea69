"""A SuperAnnotate Orchestrate action for the "Fired in Explore" event: load the selected items with Dagster.

Modeled on SuperAnnotate's "Insert data into Databricks Delta Table" template, but it moves no data itself:
it asks a Dagster deployment to run the job that loads exactly the fired items, and returns the run id.
The load is then the same as the sensor's (typed columns, MERGE on sa_item_id, retries, the run in the UI).

Set up in SuperAnnotate (see the README):
- Secrets: DAGSTER_URL (e.g. https://acme.dagster.cloud/prod or http://dagster.internal:3000) and, for
  Dagster+, DAGSTER_CLOUD_API_TOKEN.
- Event object (optional keys): dagster_job (default "qa_review_job"), dagster_location (default
  "example_project"), dagster_asset (default "annotations/qa_review") and its op, dagster_op (default
  "annotations__qa_review").
- Pipeline: Event -> Item -> Fired in Explore, connected to this action. Requirement: dagster-graphql.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse


def handler(event: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Launch the job for the items in `context["items"]`; returns {"run_id", "items"}."""
    from dagster_graphql import DagsterGraphQLClient

    items = [int(i) for i in context.get("items") or []]
    if not items:
        raise ValueError("The event carries no items: select items in Explore, then run the pipeline.")
    url = os.environ.get("DAGSTER_URL")
    if not url:
        raise ValueError("Set the DAGSTER_URL secret to the Dagster deployment, e.g. https://acme.dagster.cloud/prod.")
    parsed = urlparse(url)
    token = os.environ.get("DAGSTER_CLOUD_API_TOKEN")
    client = DagsterGraphQLClient(
        parsed.hostname or "",
        port_number=parsed.port,
        use_https=parsed.scheme == "https",
        path_prefix=parsed.path.rstrip("/"),
        headers={"Dagster-Cloud-Api-Token": token} if token else None,
    )
    op = event.get("dagster_op", "annotations__qa_review")
    run_id = client.submit_job_execution(
        event.get("dagster_job", "qa_review_job"),
        repository_location_name=event.get("dagster_location", "example_project"),
        run_config={"ops": {op: {"config": {"item_ids": items}}}},
        asset_selection=[event.get("dagster_asset", "annotations/qa_review").split("/")],  # the run's Target
        tags={
            "superannotate/trigger": "Fired in Explore",
            "superannotate/project_id": str(context.get("project_id", "")),
            "superannotate/user": str(context.get("user_id", "")),
            "superannotate/items": str(len(items)),
        },
    )
    return {"run_id": run_id, "items": items}
