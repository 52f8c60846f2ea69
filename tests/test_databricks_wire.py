"""DatabricksResource through the real connector against LocalSQLWarehouseServer: counts, faults, secrets."""

import logging
import socket
import time

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest
from backends import S3_SECRET, TOKEN, backend

from dagster_dbload import DatabricksConnectionError, DatabricksLoadError, DatabricksResource
from dagster_dbload.testing import LocalSQLWarehouseServer


def _append_asset(name: str, data: pa.Table) -> dg.AssetsDefinition:
    @dg.asset(name=name, metadata={"write_mode": "append"})
    def _asset() -> pa.Table:
        return data

    return _asset


def _rows(n: int) -> pa.Table:
    return pa.table({"id": np.arange(n), "name": pa.array([f"name-{i % 97}" for i in range(n)])})


@pytest.mark.parametrize("kind", ["server", "volume"])
def test_statements_per_materialization_do_not_grow_with_rows(kind, tmp_path):
    counts = {}
    with backend(kind, tmp_path) as b:
        for n in (1_000, 1_000_000):
            rows = _append_asset(f"rows_{n}", _rows(n))
            before = len(b.server.statements)
            assert dg.materialize([rows], resources={"io_manager": b.io_manager()}).success
            sent = b.server.statements[before:]
            load = [s for s in sent if not s.startswith(("PUT ", "REMOVE "))]
            counts[n] = [s.split()[0] for s in load]
            assert all("name-5" not in s for s in sent), "no row data travels inside SQL text"
            assert all(len(s) < 2_000 for s in sent)
    assert counts[1_000] == counts[1_000_000]
    assert counts[1_000].count("COPY") == 1


def test_throttling_is_retried_and_the_load_lands_once(tmp_path):
    with backend("server", tmp_path) as b:

        @dg.asset(metadata={"write_mode": "append"})
        def events() -> pa.Table:
            return _rows(10)

        io_manager = b.io_manager()
        b.server.fail_next(status=503, times=1, retry_after=1)
        assert dg.materialize([events], resources={"io_manager": io_manager}).success
        b.server.fail_next(status=429, times=1, retry_after=1)
        assert dg.materialize([events], resources={"io_manager": io_manager}).success  # a new run: new files
        with b.warehouse.connect() as connection:
            cursor = connection.cursor()
            cursor.execute("SELECT count(*) AS n FROM events")
            assert cursor.fetchone().n == 20  # each run's append landed exactly once
        assert not b.server._faults
        assert len([s for s in b.server.statements if s.startswith("COPY INTO")]) == 2


def test_a_wrong_token_gives_the_credential_error_without_the_token(tmp_path):
    with LocalSQLWarehouseServer(path=str(tmp_path / "w.duckdb"), access_token=TOKEN) as server:
        wrong = server.resource(access_token="dapi-wrong-9c2e77")
        refused = pytest.raises(DatabricksConnectionError, match="refused the credentials.*check access_token")
        with refused as failure, wrong.connect():
            pass
        assert "dapi-wrong-9c2e77" not in str(failure.value) and TOKEN not in str(failure.value)


def test_a_wrong_http_path_and_host_name_the_setting(tmp_path):
    with LocalSQLWarehouseServer(path=str(tmp_path / "w.duckdb"), access_token=TOKEN) as server:
        bad_path = server.resource(http_path="/sql/1.0/warehouses/nope", connection_uri=server.url + "/sql/1.0/nope")
        with pytest.raises(DatabricksConnectionError, match="check http_path"), bad_path.connect():
            pass
    unreachable = DatabricksResource(
        server_hostname="127.0.0.1", http_path="/x", access_token=TOKEN, connection_uri="http://127.0.0.1:9/x",
        retry_duration_seconds=2,
    )  # fmt: skip
    with pytest.raises(DatabricksConnectionError, match="check server_hostname"), unreachable.connect():
        pass


@pytest.mark.parametrize(
    "auth",
    [{}, {"access_token": "t", "client_id": "a", "client_secret": "b"}, {"client_id": "a"}],
    ids=["none", "both", "half-oauth"],
)
def test_exactly_one_sign_in_method(auth):
    resource = DatabricksResource(server_hostname="example.cloud.databricks.com", http_path="/sql/1.0/x", **auth)
    with pytest.raises(DatabricksConnectionError, match="exactly one way to sign in"), resource.connect():
        pass


def test_oauth_m2m_uses_the_sdk_credentials_provider():
    resource = DatabricksResource(
        server_hostname="example.cloud.databricks.com", http_path="/sql/1.0/x", client_id="sp-id", client_secret="sp-s"
    )
    auth = resource._auth()
    assert set(auth) == {"credentials_provider"} and callable(auth["credentials_provider"])


def test_a_failed_load_keeps_the_table_and_the_named_prefix(tmp_path):
    with backend("server", tmp_path) as b:

        @dg.asset(metadata={"write_mode": "append"})
        def strict() -> pa.Table:
            return pa.table({"id": [1, 2]})

        io_manager = b.io_manager()
        dg.materialize([strict], resources={"io_manager": io_manager})
        with b.warehouse.connect() as connection:  # the load statement will now fail on the server
            cursor = connection.cursor()
            cursor.execute("CREATE OR REPLACE TABLE strict (id BIGINT, must BIGINT NOT NULL)")
            cursor.execute("INSERT INTO strict VALUES (7, 7)")
            cursor.execute("DESCRIBE HISTORY strict")
            version = cursor.fetchone().version
        with pytest.raises(DatabricksLoadError, match="(?s)NOT_NULL.*staged files are kept at") as failure:
            dg.materialize([strict], resources={"io_manager": io_manager})
        assert b.staging_url in str(failure.value)
        with b.warehouse.connect() as connection:
            cursor = connection.cursor()
            cursor.execute("SELECT count(*) AS n FROM strict")
            assert cursor.fetchone().n == 1
            cursor.execute("DESCRIBE HISTORY strict")
            assert cursor.fetchone().version == version
        assert len(b.staged_files()) == 1


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_no_secret_reaches_logs_metadata_or_errors(kind, tmp_path, request, caplog):
    options = {"s3": "s3_options", "azure": "azure_options"}
    with backend(
        kind, tmp_path, **{f"{kind if kind == 's3' else 'azure'}_options": request.getfixturevalue(options[kind])}
    ) as b:
        assert len(b.secrets) == 2
        data = {"t": pa.table({"id": [1]})}

        @dg.asset(metadata={"write_mode": "merge", "primary_key": ["id"]})
        def guarded():
            return data["t"]

        caplog.set_level(logging.DEBUG)
        instance = dg.DagsterInstance.ephemeral()
        texts = []
        result = dg.materialize([guarded], resources={"io_manager": b.io_manager()}, instance=instance)
        texts += [repr(m.materialization.metadata) for m in result.get_asset_materialization_events()]
        data["t"] = pa.table({"id": [1, 1]})
        with pytest.raises(ValueError) as failure:
            dg.materialize([guarded], resources={"io_manager": b.io_manager()}, instance=instance)
        texts.append(str(failure.value))
        wrong = b.io_manager().warehouse.model_copy(update={"access_token": "dapi-nope"})
        with pytest.raises(DatabricksConnectionError) as failure, wrong.connect():
            pass
        texts.append(str(failure.value))
        texts += [str(e.dagster_event) + str(e.user_message) for e in instance.all_logs(result.run_id)]
        texts += [r.getMessage() for r in caplog.records]
        joined = "\n".join(texts)
        assert "guarded" in joined
        for secret in b.secrets:
            assert secret not in joined


def test_oauth_to_an_unreachable_host_gives_up_within_the_retry_duration_and_names_the_setting():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    resource = DatabricksResource(
        server_hostname=f"127.0.0.1:{port}", http_path="/sql/1.0/warehouses/x", client_id="sp-id",
        client_secret="oauth-secret-5e1f", retry_duration_seconds=2, socket_timeout_seconds=2,
    )  # fmt: skip
    start = time.monotonic()
    unreachable = r"Cannot reach '127.0.0.1:\d+'.*check server_hostname"
    with pytest.raises(DatabricksConnectionError, match=unreachable) as e, resource.connect():
        pass
    assert time.monotonic() - start < 30  # not the SDK's 300 s
    assert "oauth-secret-5e1f" not in str(e.value) and "Invalid URL" not in str(e.value)


@pytest.mark.parametrize("tls", [False, True])
def test_oauth_m2m_signs_in_a_service_principal_and_a_wrong_secret_names_the_settings(tmp_path, monkeypatch, tls):
    with LocalSQLWarehouseServer(path=str(tmp_path / "wh.duckdb"), tls=tls, client_secret="sp-secret-77f1") as server:
        if tls:  # the SDK fetches the token over HTTPS: it trusts the server's certificate
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.certificate)
            monkeypatch.setenv("SSL_CERT_FILE", server.certificate)  # and so does the connector
        signed_in = server.resource(access_token=None, client_id=server.client_id, client_secret="sp-secret-77f1")
        with signed_in.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT 42 AS answer")
            assert cursor.fetchall()[0].answer == 42
        wrong = server.resource(access_token=None, client_id=server.client_id, client_secret="sp-wrong-0c3a")
        refused = r"refused the credentials.*check client_id / client_secret"
        with pytest.raises(DatabricksConnectionError, match=refused) as e, wrong.connect():
            pass
        assert "sp-wrong-0c3a" not in str(e.value) and "sp-secret-77f1" not in str(e.value)


def test_the_sdk_finds_the_warehouse_and_its_http_path(tmp_path):
    from databricks.sdk import WorkspaceClient

    with LocalSQLWarehouseServer(path=str(tmp_path / "wh.duckdb"), access_token=TOKEN) as server:
        workspace = WorkspaceClient(host=server.url, token=TOKEN)
        [warehouse] = list(workspace.warehouses.list())
        assert (warehouse.id, warehouse.odbc_params.path) == ("local", server.resource().http_path)
        assert workspace.warehouses.get("local").odbc_params.port == int(server.url.rsplit(":", 1)[1])
        with pytest.raises(Exception, match="does not exist"):
            workspace.warehouses.get("588dbd71bd802f4d")
        with pytest.raises(Exception, match="Invalid access token"):
            list(WorkspaceClient(host=server.url, token="dapi-wrong").warehouses.list())


def test_a_persistent_http_500_names_the_status(tmp_path):
    with LocalSQLWarehouseServer(path=str(tmp_path / "wh.duckdb")) as server:
        server.fail_next(status=500, times=1000, retry_after=None)
        answered = r"Databricks answered HTTP 500 .*retry_duration_seconds"
        with (
            pytest.raises(DatabricksConnectionError, match=answered),
            server.resource(retry_duration_seconds=3).connect(),
        ):
            pass


def test_staging_credentials_from_env_vars_stay_out_of_dagster_snapshots(tmp_path, s3_options, monkeypatch):
    from dagster._serdes import serialize_value

    from dagster_dbload import StagingCredentials

    with backend("s3", tmp_path, s3_options=s3_options) as b:
        monkeypatch.setenv("TEST_S3_KEY", s3_options["key"])
        monkeypatch.setenv("TEST_S3_SECRET", S3_SECRET)
        public = {k: v for k, v in s3_options.items() if k not in ("key", "secret")}
        io_manager = b.io_manager(
            staging_storage_options=public,
            staging_credentials=StagingCredentials(key=dg.EnvVar("TEST_S3_KEY"), secret=dg.EnvVar("TEST_S3_SECRET")),
        )

        @dg.asset
        def landed() -> pa.Table:
            return _rows(5)

        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize([landed], resources={"io_manager": io_manager}, instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        stored = serialize_value(instance.get_job_snapshot(run.job_snapshot_id)) + repr(run.run_config)
        assert "TEST_S3_SECRET" in stored and S3_SECRET not in stored
        with b.warehouse.connect() as connection:
            cursor = connection.cursor()
            cursor.execute("SELECT count(*) AS n FROM landed")
            assert cursor.fetchone().n == 5
