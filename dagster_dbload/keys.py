"""Primary-key checks for merges: null or duplicate keys in an output are refused before the load."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc


class KeyCollector:
    """Wraps a stream, keeping only the key columns of each batch for the checks."""

    def __init__(self, reader: pa.RecordBatchReader, keys: Sequence[str], who: str):
        names = {n.lower(): n for n in reader.schema.names}
        missing = [k for k in keys if k.lower() not in names]
        if missing:
            raise ValueError(
                f"{who}: primary_key column(s) {missing} are not in the output, whose columns are "
                f"{reader.schema.names}. Fix primary_key or add the column(s)."
            )
        self.keys = [names[k.lower()] for k in keys]
        self.who = who
        self._reader = reader
        self._parts: list[pa.Table] = []

    def reader(self) -> pa.RecordBatchReader:
        def batches() -> Iterator[pa.RecordBatch]:
            for batch in self._reader:
                self._parts.append(pa.Table.from_batches([batch]).select(self.keys))
                yield batch

        return pa.RecordBatchReader.from_batches(self._reader.schema, batches())

    def check(self, allow_duplicates: bool = False) -> None:
        """Raise naming the column and key values when a key is null, or (unless allowed) repeated."""
        if not self._parts:
            return
        keys = pa.concat_tables(self._parts)
        for name in self.keys:
            nulls = keys.column(name).null_count
            if nulls:
                raise ValueError(
                    f"{self.who}: {nulls} row(s) have a null {name!r}, which is part of primary_key {self.keys}. "
                    "Merge keys must not be null: fill or drop those rows."
                )
        if allow_duplicates:
            return
        counts = keys.group_by(self.keys).aggregate([([], "count_all")])
        repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
        if repeated.num_rows:
            examples = repeated.slice(0, 3).select(self.keys).to_pylist()
            raise ValueError(
                f"{self.who}: {repeated.num_rows} primary_key value(s) of {self.keys} occur more than once in the "
                f"output, e.g. {examples}. Deduplicate the output, or set dedupe_by to a column whose highest "
                "value wins."
            )
