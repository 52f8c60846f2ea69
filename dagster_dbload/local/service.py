"""TCLIService handlers of the local warehouse: sessions are local warehouse connections, statements run on a
worker thread (so they can be polled and cancelled), results go back as Arrow IPC batches."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb
import lz4.frame
import pyarrow as pa
from databricks.sql.thrift_api.TCLIService import ttypes as T

from .dbapi import Cancellation, LocalConnection, cancelled_error, session_closed_error
from .errors import LocalSQLError

_log = logging.getLogger(__name__)

_WAIT_SECONDS = 2.0  # a statement still running after this is polled by the client, as on Databricks
# Results larger than this go out as Cloud Fetch links (files the client downloads in parallel), as Databricks
# sends large results, in chunks of about CHUNK_BYTES; smaller ones travel inline in the Thrift answers.
CLOUD_FETCH_MIN_BYTES = 4 << 20
CHUNK_BYTES = 16 << 20
LINK_SECONDS = 900

_TYPE_IDS = [
    (pa.types.is_boolean, T.TTypeId.BOOLEAN_TYPE),
    (pa.types.is_int8, T.TTypeId.TINYINT_TYPE),
    (pa.types.is_int16, T.TTypeId.SMALLINT_TYPE),
    (pa.types.is_int32, T.TTypeId.INT_TYPE),
    (pa.types.is_int64, T.TTypeId.BIGINT_TYPE),
    (pa.types.is_float32, T.TTypeId.FLOAT_TYPE),
    (pa.types.is_float64, T.TTypeId.DOUBLE_TYPE),
    (pa.types.is_decimal, T.TTypeId.DECIMAL_TYPE),
    (pa.types.is_timestamp, T.TTypeId.TIMESTAMP_TYPE),
    (pa.types.is_date, T.TTypeId.DATE_TYPE),
    (pa.types.is_binary, T.TTypeId.BINARY_TYPE),
    (pa.types.is_list, T.TTypeId.ARRAY_TYPE),
    (pa.types.is_struct, T.TTypeId.STRUCT_TYPE),
    (pa.types.is_map, T.TTypeId.MAP_TYPE),
    (pa.types.is_null, T.TTypeId.NULL_TYPE),
]


class Host(Protocol):
    """What the service needs from the server around it."""

    statements: list[str]

    def open_connection(self) -> contextlib.AbstractContextManager[LocalConnection]: ...
    def statement_fault(self, statement: str) -> LocalSQLError | str | None: ...
    def staging(self, statement: str) -> pa.Table | None: ...
    def lose_answer(self) -> None: ...
    def result_link(self, produce: Callable[[], pa.Buffer]) -> str: ...


def _write_stream(sink: Any, table: pa.Table) -> Any:
    """`table` as an Arrow IPC stream (schema, then batches) into `sink`: the file a Cloud Fetch link serves."""
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink


def _stream(table: pa.Table, size: int) -> pa.Buffer:
    """`table`'s IPC stream in one buffer of its known `size`, written once and served without a copy."""
    buffer = pa.allocate_buffer(size)
    _write_stream(pa.FixedSizeBufferWriter(buffer), table)
    return buffer


def _ok() -> T.TStatus:
    return T.TStatus(statusCode=T.TStatusCode.SUCCESS_STATUS)


def _error_status(error: BaseException) -> T.TStatus:
    message, sqlstate = _describe(error)
    return T.TStatus(statusCode=T.TStatusCode.ERROR_STATUS, errorMessage=message, sqlState=sqlstate)


def _describe(error: BaseException) -> tuple[str, str]:
    """(message with an error class, SQLSTATE) for any failure: never a bare "Internal error"."""
    if isinstance(error, LocalSQLError):
        return str(error), error.sqlstate
    return f"[INTERNAL_ERROR] {type(error).__name__}: {error} SQLSTATE: XX000", "XX000"


def _guarded(handler: Callable) -> Callable:
    """Any exception in a handler becomes the RPC's error status (a Databricks error class and message)."""
    response_type = getattr(T, f"T{handler.__name__}Resp")

    @functools.wraps(handler)
    def run(self: Service, req: Any) -> Any:
        try:
            return handler(self, req)
        except Exception as e:  # noqa: BLE001 - each becomes an answer the client can read
            return response_type(status=_error_status(e))

    return run


def _new_handle() -> T.THandleIdentifier:
    return T.THandleIdentifier(guid=uuid.uuid4().bytes, secret=uuid.uuid4().bytes)


def _table_schema(schema: pa.Schema) -> T.TTableSchema:
    columns = []
    for position, f in enumerate(schema, start=1):
        type_id = next((t for test, t in _TYPE_IDS if test(f.type)), T.TTypeId.STRING_TYPE)
        qualifiers = None
        if type_id == T.TTypeId.DECIMAL_TYPE:
            qualifiers = T.TTypeQualifiers(
                qualifiers={
                    "precision": T.TTypeQualifierValue(i32Value=f.type.precision),
                    "scale": T.TTypeQualifierValue(i32Value=f.type.scale),
                }
            )
        entry = T.TTypeEntry(primitiveEntry=T.TPrimitiveTypeEntry(type=type_id, typeQualifiers=qualifiers))
        columns.append(T.TColumnDesc(columnName=f.name, typeDesc=T.TTypeDesc(types=[entry]), position=position))
    return T.TTableSchema(columns=columns)


def _scalar(kind: str, raw: str | None) -> Any:
    kind = (kind or "STRING").upper()
    if raw is None or kind == "VOID":
        return None
    if kind in ("TINYINT", "SMALLINT", "INT", "INTEGER", "BIGINT"):
        return int(raw)
    if kind in ("FLOAT", "DOUBLE"):
        return float(raw)
    if kind.startswith("DECIMAL"):
        return decimal.Decimal(raw)
    if kind == "BOOLEAN":
        return raw.lower() == "true"
    if kind == "DATE":
        return dt.date.fromisoformat(raw)
    if kind in ("TIMESTAMP", "TIMESTAMP_NTZ"):
        value = dt.datetime.fromisoformat(raw)
        return value.replace(tzinfo=dt.timezone.utc) if kind == "TIMESTAMP" and value.tzinfo is None else value
    return raw


def parameter_value(p: T.TSparkParameter | T.TSparkParameterValueArg) -> Any:
    """A native (`:name` / `?`) parameter as a Python value: scalars from their type name and string value,
    ARRAY and MAP from their arguments (a MAP's arguments alternate key and value)."""
    kind = (p.type or "STRING").upper()
    if kind in ("ARRAY", "MAP"):
        values = [parameter_value(a) for a in p.arguments or []]
        return values if kind == "ARRAY" else dict(zip(values[::2], values[1::2], strict=True))
    raw = p.value.stringValue if isinstance(p, T.TSparkParameter) and p.value is not None else getattr(p, "value", None)
    return _scalar(kind, raw)


def _complex_as_json(table: pa.Table) -> pa.Table:
    """ARRAY / MAP / STRUCT columns as JSON text, for clients that ask for complex types as strings."""
    for i, f in enumerate(table.schema):
        if pa.types.is_list(f.type) or pa.types.is_struct(f.type) or pa.types.is_map(f.type):
            values = [
                None if v is None else json.dumps(_jsonable(v), default=str, separators=(",", ":"))
                for v in table.column(i).to_pylist()
            ]
            table = table.set_column(i, f.name, pa.array(values, pa.string()))
    return table


def _jsonable(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(x, tuple) and len(x) == 2 for x in value) and value:
        return {str(k): _jsonable(v) for k, v in value}  # a MAP's (key, value) pairs
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@dataclass
class Operation:
    """One statement or metadata call: runs on a worker thread; its result is paged out by FetchResults.

    It ends once, under `lock`: finished, failed, or cancelled (`cancel` ends it at once and interrupts its
    statement without waiting; what the statement produces afterwards is dropped)."""

    lz4: bool
    cloud_fetch: bool = False  # the client downloads result links (canDownloadResult)
    row_limit: int | None = None
    complex_as_arrow: bool = True
    staging: bool = False
    table: pa.Table | None = None
    rowcount: int | None = None
    error: BaseException | None = None
    canceled: bool = False
    offset: int = 0
    schema: pa.Schema | None = None  # the result's types as declared (complex columns may travel as JSON text)
    done: threading.Event = field(default_factory=threading.Event)
    connection: LocalConnection | None = None  # the session's connection running its statement
    cancellation: Cancellation = field(default_factory=Cancellation)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def finish(self, table: pa.Table, rowcount: int | None = None) -> None:
        if self.row_limit:
            table = table.slice(0, self.row_limit)
        for i, f in enumerate(table.schema):  # VOID columns (SELECT NULL) travel as STRING, as Databricks sends them
            if pa.types.is_null(f.type):
                table = table.set_column(
                    i, pa.field(f.name, pa.string(), metadata=f.metadata), table.column(i).cast(pa.string())
                )
        sent = table if self.complex_as_arrow else _complex_as_json(table)
        linked = self.cloud_fetch and not self.staging and sent.nbytes > CLOUD_FETCH_MIN_BYTES
        with self.lock:
            if self.done.is_set():
                return  # cancelled meanwhile
            self.schema, self.table, self.rowcount = table.schema, sent, rowcount
            if linked:
                self.lz4 = False  # the server's choice; links are read over loopback, where compressing only costs
            self.cloud_fetch = linked
            self.done.set()

    def fail(self, error: BaseException) -> None:
        with self.lock:
            if self.done.is_set():
                return
            self.canceled = getattr(error, "error_class", None) == "OPERATION_CANCELED"
            self.error = error
            self.done.set()

    def cancel(self) -> None:
        """End it as cancelled if it still runs, and interrupt its statement: answers at once, whatever the
        statement is doing (not started yet, in DuckDB, or between queries)."""
        with self.lock:
            if self.done.is_set():
                return
            self.canceled = True
            self.error = cancelled_error()
            self.done.set()
        if self.connection is not None:
            self.connection.cancel(self.cancellation)

    @property
    def result_table(self) -> pa.Table:
        """The rows of a finished operation (`finish` sets them before `done`)."""
        if self.table is None:
            raise AssertionError("the operation has no result: it failed or is still running")
        return self.table

    @property
    def state(self) -> int:
        if not self.done.is_set():
            return T.TOperationState.RUNNING_STATE
        if self.canceled:
            return T.TOperationState.CANCELED_STATE
        return T.TOperationState.ERROR_STATE if self.error else T.TOperationState.FINISHED_STATE

    def status(self) -> T.TGetOperationStatusResp:
        if self.error is not None:
            message, sqlstate = _describe(self.error)
            return T.TGetOperationStatusResp(status=_ok(), operationState=self.state, errorMessage=message,
                                             displayMessage=message, sqlState=sqlstate)  # fmt: skip
        return T.TGetOperationStatusResp(status=_ok(), operationState=self.state, numModifiedRows=self.rowcount)


@dataclass
class Session:
    connection: LocalConnection
    stack: contextlib.ExitStack
    operations: dict[bytes, Operation] = field(default_factory=dict)  # changed under Service.lock
    closed: bool = False


class Service:
    """The TCLIService calls databricks-sql-connector makes, answered by the local warehouse.

    No handler waits for a running statement to close or cancel it: CloseSession, CancelOperation and
    CloseOperation cancel what runs and answer at once; a closed session's connection is released on a thread
    of its own once its statement stopped (a client may send CloseSession from the thread of a statement it
    runs here, e.g. a connector Connection garbage-collected there)."""

    def __init__(self, host: Host):
        self.host = host
        self.sessions: dict[bytes, Session] = {}
        self.lock = threading.Lock()
        self._closing: list[threading.Thread] = []

    # sessions
    @_guarded
    def OpenSession(self, req: T.TOpenSessionReq) -> T.TOpenSessionResp:
        stack = contextlib.ExitStack()
        connection = stack.enter_context(self.host.open_connection())
        try:
            namespace = req.initialNamespace
            connection.open_session(
                namespace.catalogName if namespace else None,
                namespace.schemaName if namespace else None,
                req.configuration or {},
            )
        except BaseException:
            stack.close()
            raise
        handle = T.TSessionHandle(sessionId=_new_handle())
        with self.lock:
            self.sessions[handle.sessionId.guid] = Session(connection, stack)
        return T.TOpenSessionResp(
            status=_ok(),
            serverProtocolVersion=T.TProtocolVersion.SPARK_CLI_SERVICE_PROTOCOL_V8,
            sessionHandle=handle,
            canUseMultipleCatalogs=True,
        )

    @_guarded
    def CloseSession(self, req: T.TCloseSessionReq) -> T.TCloseSessionResp:
        with self.lock:
            session = self.sessions.pop(req.sessionHandle.sessionId.guid, None)
            if session is None:
                return T.TCloseSessionResp(status=_ok())
            session.closed = True  # no operation registers with it any more
            operations = list(session.operations.values())
        for operation in operations:
            operation.cancel()
        closing = threading.Thread(target=self._release, args=(session,), daemon=True)
        closing.start()
        with self.lock:
            self._closing = [t for t in self._closing if t.is_alive()] + [closing]
        return T.TCloseSessionResp(status=_ok())

    @staticmethod
    def _release(session: Session) -> None:
        """Close a session's connection: waits for its cancelled statement to stop, off the handler's thread."""
        try:
            session.stack.close()
        except Exception:  # noqa: BLE001 - nobody waits for this answer any more
            _log.warning("Closing a local warehouse session failed", exc_info=True)

    def close_all(self) -> None:
        """Close every session (at shutdown): cancel what they run, then release them."""
        with self.lock:
            sessions, closing = list(self.sessions.values()), list(self._closing)
            self.sessions.clear()
            for session in sessions:
                session.closed = True
        for session in sessions:
            for operation in list(session.operations.values()):
                operation.cancel()
        for session in sessions:
            self._release(session)
        for thread in closing:
            thread.join()

    def _session(self, handle: T.TSessionHandle) -> Session:
        session = self.sessions.get(handle.sessionId.guid)
        if session is None:
            raise LocalSQLError(
                "INVALID_HANDLE.SESSION_NOT_FOUND", "The session was closed or never opened: open a new one.", "HY000"
            )
        return session

    def _register(self, session: Session, operation: Operation, kind: int) -> T.TOperationHandle:
        """A handle for `operation`, registered with its session (so closing the session cancels it)."""
        handle = T.TOperationHandle(operationId=_new_handle(), operationType=kind, hasResultSet=True)
        with self.lock:
            if session.closed:
                raise session_closed_error()
            session.operations[handle.operationId.guid] = operation
        return handle

    def _operation(self, handle: T.TOperationHandle) -> Operation:
        for session in list(self.sessions.values()):
            operation = session.operations.get(handle.operationId.guid)
            if operation is not None:
                return operation
        raise LocalSQLError("INVALID_HANDLE.OPERATION_NOT_FOUND", "The operation was closed or never started.", "HY000")

    # statements
    @_guarded
    def ExecuteStatement(self, req: T.TExecuteStatementReq) -> T.TExecuteStatementResp:
        session = self._session(req.sessionHandle)
        statement = req.statement
        self.host.statements.append(statement)
        arrow_types = req.useArrowNativeTypes
        operation = Operation(
            lz4=bool(req.canDecompressLZ4Result),
            cloud_fetch=bool(req.canDownloadResult),
            row_limit=req.resultRowLimit or None,
            complex_as_arrow=arrow_types is None or arrow_types.complexTypesAsArrow is not False,
            connection=session.connection,
        )
        handle = self._register(session, operation, T.TOperationType.EXECUTE_STATEMENT)
        fault = self.host.statement_fault(statement)
        staging = None
        if not isinstance(fault, LocalSQLError):
            try:
                staging = self.host.staging(statement)
            except LocalSQLError as e:  # the operation fails, as a statement does (ServerOperationError)
                fault = e
        if isinstance(fault, LocalSQLError):
            operation.fail(fault)
        elif staging is not None:
            operation.staging = True
            operation.finish(staging)
        else:
            threading.Thread(target=self._run, args=(session, operation, statement, req), daemon=True).start()
        wait = None if fault == "lose" else (0 if req.getDirectResults is None else _WAIT_SECONDS)
        operation.done.wait(wait)
        if fault == "lose":
            self.host.lose_answer()
        return self._respond(handle, operation, req.getDirectResults, T.TExecuteStatementResp)

    def _run(self, session: Session, operation: Operation, statement: str, req: T.TExecuteStatementReq) -> None:
        try:
            cursor = session.connection.cursor()
            cursor.execute(statement, self._parameters(req.parameters), cancellation=operation.cancellation)
            table = cursor.fetchall_arrow() if cursor.description is not None else pa.table({})
            operation.finish(table, cursor.rowcount if cursor.rowcount >= 0 else None)
        except BaseException as e:  # noqa: BLE001 - reported through the operation's status
            operation.fail(cancelled_error() if isinstance(e, duckdb.InterruptException) else e)

    def _respond(self, handle: T.TOperationHandle, operation: Operation, direct: T.TSparkGetDirectResults | None,
                 response: type) -> Any:  # fmt: skip
        if direct is None or not operation.done.is_set():
            return response(status=_ok(), operationHandle=handle)
        results = None
        if operation.error is None:
            rows = self._page(operation, direct.maxRows or 10000, direct.maxBytes)
            results = T.TSparkDirectResults(
                operationStatus=operation.status(),
                resultSetMetadata=self._metadata(operation),
                resultSet=T.TFetchResultsResp(status=_ok(), hasMoreRows=self._more(operation), results=rows),
            )
        else:
            results = T.TSparkDirectResults(operationStatus=operation.status())
        if operation.error is not None or not (operation.cloud_fetch or self._more(operation)):
            # the whole answer went with the execute: the operation is closed with it, as Databricks' direct
            # results do, and the connector sends no CloseOperation
            self._forget(handle)
            results.closeOperation = T.TCloseOperationResp(status=_ok())
        return response(status=_ok(), operationHandle=handle, directResults=results)

    def _forget(self, handle: T.TOperationHandle) -> list[Operation | None]:
        with self.lock:
            return [s.operations.pop(handle.operationId.guid, None) for s in self.sessions.values()]

    @staticmethod
    def _parameters(parameters: list[T.TSparkParameter] | None) -> dict[str, Any] | list[Any] | None:
        if not parameters:
            return None
        if all(p.name for p in parameters):
            return {p.name: parameter_value(p) for p in parameters}
        return [parameter_value(p) for p in parameters]

    # metadata calls (JDBC listings)
    def _listing(self, req: Any, name: str, response: type, **filters: Any) -> Any:
        session = self._session(req.sessionHandle)
        operation = Operation(lz4=False)
        operation.finish(session.connection.listing(name, **filters).table)
        handle = self._register(session, operation, T.TOperationType.GET_TABLES)
        return self._respond(handle, operation, req.getDirectResults, response)

    @_guarded
    def GetCatalogs(self, req: T.TGetCatalogsReq) -> T.TGetCatalogsResp:
        return self._listing(req, "catalogs", T.TGetCatalogsResp)

    @_guarded
    def GetSchemas(self, req: T.TGetSchemasReq) -> T.TGetSchemasResp:
        return self._listing(req, "schemas", T.TGetSchemasResp, catalog=req.catalogName, schema=req.schemaName)

    @_guarded
    def GetTables(self, req: T.TGetTablesReq) -> T.TGetTablesResp:
        return self._listing(req, "tables", T.TGetTablesResp, catalog=req.catalogName, schema=req.schemaName,
                             table=req.tableName, types=req.tableTypes)  # fmt: skip

    @_guarded
    def GetColumns(self, req: T.TGetColumnsReq) -> T.TGetColumnsResp:
        return self._listing(req, "columns", T.TGetColumnsResp, catalog=req.catalogName, schema=req.schemaName,
                             table=req.tableName, column=req.columnName)  # fmt: skip

    @_guarded
    def GetTypeInfo(self, req: T.TGetTypeInfoReq) -> T.TGetTypeInfoResp:
        return self._listing(req, "type_info", T.TGetTypeInfoResp)

    @_guarded
    def GetFunctions(self, req: T.TGetFunctionsReq) -> T.TGetFunctionsResp:
        return self._listing(req, "functions", T.TGetFunctionsResp, catalog=req.catalogName,
                             schema=req.schemaName, function=req.functionName)  # fmt: skip

    @_guarded
    def GetPrimaryKeys(self, req: T.TGetPrimaryKeysReq) -> T.TGetPrimaryKeysResp:
        return self._listing(req, "primary_keys", T.TGetPrimaryKeysResp, catalog=req.catalogName,
                             schema=req.schemaName, table=req.tableName)  # fmt: skip

    @_guarded
    def GetCrossReference(self, req: T.TGetCrossReferenceReq) -> T.TGetCrossReferenceResp:
        return self._listing(req, "cross_reference", T.TGetCrossReferenceResp, parent_catalog=req.parentCatalogName,
                             parent_schema=req.parentSchemaName, parent_table=req.parentTableName,
                             foreign_catalog=req.foreignCatalogName, foreign_schema=req.foreignSchemaName,
                             foreign_table=req.foreignTableName)  # fmt: skip

    # operations
    @_guarded
    def GetOperationStatus(self, req: T.TGetOperationStatusReq) -> T.TGetOperationStatusResp:
        operation = self._operation(req.operationHandle)
        operation.done.wait(0.05)
        return operation.status()

    @_guarded
    def GetResultSetMetadata(self, req: T.TGetResultSetMetadataReq) -> T.TGetResultSetMetadataResp:
        return self._metadata(self._operation(req.operationHandle))

    @_guarded
    def FetchResults(self, req: T.TFetchResultsReq) -> T.TFetchResultsResp:
        operation = self._operation(req.operationHandle)
        operation.done.wait()
        if operation.error is not None:
            raise operation.error
        rows = self._page(operation, req.maxRows or 10000, getattr(req, "maxBytes", None))
        return T.TFetchResultsResp(
            status=_ok(),
            hasMoreRows=self._more(operation),
            results=rows,
            resultSetMetadata=self._metadata(operation) if req.includeResultSetMetadata else None,
        )

    @_guarded
    def CancelOperation(self, req: T.TCancelOperationReq) -> T.TCancelOperationResp:
        self._operation(req.operationHandle).cancel()
        return T.TCancelOperationResp(status=_ok())

    @_guarded
    def CloseOperation(self, req: T.TCloseOperationReq) -> T.TCloseOperationResp:
        """Forget the operation; one still running is cancelled (not waited for), as on Databricks."""
        for operation in self._forget(req.operationHandle):
            if operation is not None:
                operation.cancel()
        return T.TCloseOperationResp(status=_ok())

    # results
    def _links(self, operation: Operation) -> list[T.TSparkArrowResultLink]:
        table, start = operation.result_table, operation.offset
        per_row = max(1, table.nbytes // max(1, table.num_rows))
        rows = max(1, CHUNK_BYTES // per_row)
        links = []
        expiry = int(time.time()) + LINK_SECONDS
        for offset in range(start, table.num_rows, rows):
            chunk = table.slice(offset, rows)
            size = _write_stream(pa.MockOutputStream(), chunk).size()  # counted, not kept
            url = self.host.result_link(functools.partial(_stream, chunk, size))
            links.append(
                T.TSparkArrowResultLink(
                    fileLink=url, expiryTime=expiry, startRowOffset=offset, rowCount=chunk.num_rows, bytesNum=size,
                    httpHeaders={},
                )
            )  # fmt: skip
        operation.offset = table.num_rows
        return links

    @staticmethod
    def _more(operation: Operation) -> bool:
        return operation.offset < operation.result_table.num_rows

    @staticmethod
    def _metadata(operation: Operation) -> T.TGetResultSetMetadataResp:
        operation.done.wait()
        if operation.error is not None:
            raise operation.error
        return T.TGetResultSetMetadataResp(
            status=_ok(),
            schema=_table_schema(operation.schema),
            resultFormat=T.TSparkRowSetType.URL_BASED_SET
            if operation.cloud_fetch
            else T.TSparkRowSetType.ARROW_BASED_SET,
            lz4Compressed=operation.lz4,
            arrowSchema=operation.result_table.schema.serialize().to_pybytes(),
            isStagingOperation=operation.staging,
        )

    def _page(self, operation: Operation, max_rows: int, max_bytes: int | None) -> T.TRowSet:
        """The next rows from the operation's offset, as schema-less Arrow IPC batches, or (Cloud Fetch) links
        to Arrow IPC stream files holding all the remaining rows."""
        start = operation.offset
        if operation.cloud_fetch:
            return T.TRowSet(startRowOffset=start, rows=[], resultLinks=self._links(operation))
        chunk = operation.result_table.slice(start, max(1, max_rows))
        if max_bytes and chunk.nbytes > max_bytes and chunk.num_rows > 1:
            per_row = max(1, chunk.nbytes // chunk.num_rows)
            chunk = chunk.slice(0, max(1, max_bytes // per_row))
        operation.offset += chunk.num_rows
        batches = []
        for batch in chunk.combine_chunks().to_batches(max_chunksize=max(1, max_rows)):
            payload = batch.serialize().to_pybytes()
            batches.append(
                T.TSparkArrowBatch(
                    batch=lz4.frame.compress(payload) if operation.lz4 else payload, rowCount=batch.num_rows
                )
            )
        return T.TRowSet(startRowOffset=start, rows=[], arrowBatches=batches)
