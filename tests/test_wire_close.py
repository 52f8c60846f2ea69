"""Closing a session and cancelling a statement through LocalSQLWarehouseServer never wait for the statement:
they interrupt it and answer at once, as on Databricks, whatever the interleaving. Every wait here is bounded
(connections are closed, and the server shut down, on bounded threads), so a regression fails, never hangs."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks import sql
from databricks.sql.exc import Error

from dagster_dbload.local.dbapi import Cancellation
from dagster_dbload.local.engine import LocalEngine
from dagster_dbload.local.errors import LocalSQLError
from dagster_dbload.local.warehouse import LocalSQLWarehouse
from dagster_dbload.testing import DatabricksWarehouseEndpoint, LocalSQLWarehouseServer

SLOW = "SELECT sum(a.id * b.id) AS {name} FROM range(100000000) a, range(100000) b"  # hours, unless stopped
BOUND = 10.0  # seconds any step may take here


class Step(threading.Thread):
    """`work` on a daemon thread, keeping its result or error; `done` joins it within a bound."""

    def __init__(self, work: Callable[[], Any]):
        super().__init__(daemon=True)
        self.work: Callable[[], Any] = work
        self.result: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as e:  # noqa: BLE001 - kept for the test to check
            self.error = e

    def done(self, seconds: float = BOUND) -> Step:
        self.join(seconds)
        assert not self.is_alive(), f"still waiting after {seconds:.0f}s"
        return self


def wait_until(condition: Callable[[], bool], seconds: float = BOUND) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not so after {seconds:.0f}s"
        time.sleep(0.01)


class Clients:
    """Connector connections to a server; `close_all` closes those still open, each within a bound."""

    def __init__(self, endpoint: DatabricksWarehouseEndpoint):
        self.endpoint = endpoint
        self.opened: list[Any] = []

    def connect(self) -> Any:
        connection = Step(lambda: sql.connect(**self.endpoint.connect_kwargs)).done().result
        self.opened.append(weakref.ref(connection))
        return connection

    def answer(self) -> None:
        """A new connection's SELECT 1 is answered: the server serves, and no statement holds the warehouse."""

        def select_one() -> int:
            with sql.connect(**self.endpoint.connect_kwargs) as connection:
                return connection.cursor().execute("SELECT 1 AS one").fetchone().one

        step = Step(select_one).done()
        assert step.error is None and step.result == 1

    def close_all(self) -> None:
        for ref in self.opened:
            connection = ref()
            if connection is not None and connection.open:
                Step(connection.close).done()


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[Clients]:
    server = LocalSQLWarehouseServer(path=str(tmp_path / "warehouse.duckdb")).__enter__()
    clients = Clients(DatabricksWarehouseEndpoint(server))
    try:
        yield clients
        clients.close_all()
    finally:
        assert Step(lambda: server.__exit__(None, None, None)).done().error is None


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], object]]:
    """Runs hook[marker]() on the server's statement thread when a statement naming `marker` starts, while it
    holds the warehouse and before it reaches DuckDB (where the stacks of the hang were)."""
    hooks: dict[str, Callable[[], object]] = {}
    original = LocalEngine.execute

    def execute(self: LocalEngine, sql: str, parameters: Any = None) -> Any:
        for marker, action in list(hooks.items()):
            if marker in sql:
                action()
        return original(self, sql, parameters)

    monkeypatch.setattr(LocalEngine, "execute", execute)
    return hooks


def test_closing_a_session_interrupts_its_statement_and_answers_at_once(clients):
    connection = clients.connect()
    cursor = connection.cursor()
    running = Step(lambda: cursor.execute(SLOW.format(name="s")))
    wait_until(lambda: cursor.active_command_id is not None)  # the server runs it
    assert Step(connection.close).done(5).error is None
    assert isinstance(running.done().error, Error)  # the statement ends with an error, not its rows
    clients.answer()


def test_a_garbage_collected_client_closing_another_session_from_the_statement_thread(clients, hook):
    dropped = [clients.connect()]  # a connection its client no longer holds
    collected = weakref.ref(dropped[0])
    hook["gc_marker"] = dropped.clear  # its __del__ sends CloseSession from the thread running a statement
    cursor = clients.connect().cursor()
    step = Step(lambda: cursor.execute("SELECT 1 AS gc_marker").fetchone().gc_marker).done()
    assert step.error is None and step.result == 1
    assert collected() is None
    clients.answer()


def test_a_garbage_collected_client_closing_the_session_of_the_running_statement(clients, hook):
    connection = clients.connect()
    cursor = connection.cursor()
    closed: list[bool] = []

    def collect() -> None:  # what the garbage collector calls, on the statement's own server thread, just
        connection.__del__()  # before the statement reaches DuckDB: CloseSession is answered, the statement stops
        closed.append(not connection.open)

    hook["own_marker"] = collect
    running = Step(lambda: cursor.execute(SLOW.format(name="own_marker")))
    assert isinstance(running.done(2 * BOUND).error, Error)
    assert closed == [True]
    clients.answer()


def test_cancel_answers_at_once_and_the_statement_raises_the_cancel(clients):
    cursor = clients.connect().cursor()
    running = Step(lambda: cursor.execute(SLOW.format(name="s")))
    wait_until(lambda: cursor.active_command_id is not None)
    assert Step(cursor.cancel).done(5).error is None
    error = running.done().error
    assert isinstance(error, Error) and "OPERATION_CANCELED" in str(error)
    assert Step(lambda: cursor.execute("SELECT 2 AS two").fetchone().two).done().result == 2  # the session serves on
    clients.answer()


def test_closing_a_running_operation_answers_at_once_and_stops_it(clients):
    cursor = clients.connect().cursor()
    running = Step(lambda: cursor.execute(SLOW.format(name="s")))
    wait_until(lambda: cursor.active_command_id is not None)
    assert Step(lambda: cursor.backend.close_command(cursor.active_command_id)).done(5).error is None
    assert isinstance(running.done().error, Error)
    clients.answer()  # the closed operation's statement stopped


def test_a_cancel_arriving_before_the_statement_reaches_duckdb_still_stops_it(clients, hook):
    cancelled = threading.Event()
    hook["late_marker"] = lambda: cancelled.wait(BOUND)  # the statement started; DuckDB runs after the cancel
    cursor = clients.connect().cursor()
    running = Step(lambda: cursor.execute(SLOW.format(name="late_marker")))
    wait_until(lambda: cursor.active_command_id is not None)
    assert Step(cursor.cancel).done(5).error is None
    cancelled.set()
    error = running.done().error
    assert isinstance(error, Error) and "OPERATION_CANCELED" in str(error)
    clients.answer()  # the statement did stop: it no longer holds the warehouse


def test_a_cancel_of_a_statement_waiting_for_the_warehouse_is_not_lost(clients):
    holding, waiting = clients.connect().cursor(), clients.connect().cursor()
    running = Step(lambda: holding.execute(SLOW.format(name="s")))
    wait_until(lambda: holding.active_command_id is not None)
    queued = Step(lambda: waiting.execute(SLOW.format(name="t")))  # waits for the first one to end
    wait_until(lambda: waiting.active_command_id is not None)
    assert Step(waiting.cancel).done(5).error is None
    assert "OPERATION_CANCELED" in str(queued.done().error)
    assert Step(holding.cancel).done(5).error is None
    assert "OPERATION_CANCELED" in str(running.done().error)
    clients.answer()  # the cancelled statement did not run once the first one ended


def test_a_cancelled_statement_never_starts(tmp_path):
    warehouse = LocalSQLWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    cancellation = Cancellation()
    with warehouse.connect() as connection:
        connection.cancel(cancellation)  # before the statement takes the warehouse
        with pytest.raises(LocalSQLError, match="OPERATION_CANCELED"):
            connection.cursor().execute("CREATE TABLE t AS SELECT 1 AS a", cancellation=cancellation)
        assert connection.cursor().execute("SHOW TABLES").fetchall() == []
