"""Where the local warehouse finds staged files: local paths, UC Volume paths and any fsspec URL."""

from __future__ import annotations

import os
from collections.abc import Mapping
from fnmatch import fnmatch
from typing import Any

import duckdb
import fsspec
from fsspec.core import split_protocol

from .errors import LocalSQLError

_LOCAL = {None, "file", "local"}


def path_not_found(url: str) -> LocalSQLError:
    return LocalSQLError("PATH_NOT_FOUND", f"Path does not exist: {url}.", "42K03")


class FileResolver:
    """Maps Databricks paths to files DuckDB can read.

    `/Volumes/<catalog>/<schema>/<volume>/...` (and `dbfs:/Volumes/...`) live under `volumes_root`;
    other URLs go through fsspec with the per-protocol `storage_options` of the warehouse.
    """

    def __init__(self, volumes_root: str, storage_options: Mapping[str, Mapping[str, Any]] | None = None):
        self.volumes_root = volumes_root
        self.storage_options = {k: dict(v) for k, v in (storage_options or {}).items()}

    def volume_dir(self, catalog: str, schema: str, volume: str) -> str:
        return os.path.join(self.volumes_root, catalog, schema, volume)

    def resolve(self, url: str) -> tuple[fsspec.AbstractFileSystem, str, str | None]:
        """(filesystem, path within it, protocol or None for local files)."""
        if url.startswith("dbfs:/Volumes/"):
            url = url[len("dbfs:") :]
        if url.startswith("/Volumes/"):
            parts = url[len("/Volumes/") :].split("/", 3)
            if len(parts) < 3 or not os.path.isdir(self.volume_dir(*(p.lower() for p in parts[:3]))):
                raise LocalSQLError("UC_VOLUME_NOT_FOUND", f"Volume {'.'.join(parts[:3])} does not exist.", "42704")
            local = os.path.join(self.volume_dir(*(p.lower() for p in parts[:3])), *parts[3:])
            return fsspec.filesystem("file"), local, None
        protocol, _ = split_protocol(url)
        if protocol in _LOCAL:
            return fsspec.filesystem("file"), os.path.abspath(split_protocol(url)[1]), None
        fs, path = fsspec.core.url_to_fs(url, **self._options(protocol))
        return fs, path, protocol

    def _options(self, protocol: str) -> dict[str, Any]:
        cls = fsspec.get_filesystem_class(protocol)
        names = {protocol, *([cls.protocol] if isinstance(cls.protocol, str) else cls.protocol)}
        return next((self.storage_options[n] for n in names if n in self.storage_options), {})

    def list_files(self, url: str, files: list[str] | None = None, pattern: str | None = None) -> list[str]:
        """Data files under `url` (a file, a directory read recursively, or a glob), hidden files skipped.

        Returned names are what DuckDB reads: local paths, or protocol URLs of registered filesystems.
        """
        fs, path, protocol = self.resolve(url)
        root = path.rstrip("/")
        if files is not None:
            found = [f"{root}/{name.lstrip('/')}" for name in files]
            missing = [f for f in found if not fs.isfile(f)]
            if missing:
                raise path_not_found(missing[0])
        elif any(c in path for c in "*?["):
            found = sorted(p for p in fs.glob(path) if fs.isfile(p))
        elif fs.isfile(path):
            found = [path]
        elif fs.isdir(path):
            found = sorted(fs.find(root))
            found = [p for p in found if not _hidden(p[len(root) :])]
            if pattern is not None:
                found = [p for p in found if fnmatch(p[len(root) + 1 :], pattern)]
        else:
            raise path_not_found(url)
        return [p if protocol is None else fs.unstrip_protocol(p) for p in found]

    def register(self, con: duckdb.DuckDBPyConnection, urls: list[str]) -> None:
        """Let DuckDB read the remote URLs through fsspec."""
        registered = set(con.list_filesystems())
        for url in urls:
            protocol, _ = split_protocol(url)
            if protocol in _LOCAL:
                continue
            fs, _, _ = self.resolve(url)
            names = [fs.protocol] if isinstance(fs.protocol, str) else list(fs.protocol)
            if not registered.intersection(names):
                con.register_filesystem(fs)
                registered.update(names)


def _hidden(relative: str) -> bool:
    return any(part.startswith(("_", ".")) for part in relative.split("/") if part)
