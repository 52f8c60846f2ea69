"""The sensor's memory: a watermark on updatedAt plus the item versions already requested near it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from .sources import SAItem, parse_time

MAX_RETRIED = 500  # failed runs remembered; older ones are beyond the sensor's look at recent runs anyway


@dataclass(frozen=True)
class Cursor:
    """`watermark`: the newest updatedAt seen. `requested`: item id -> updatedAt of the version last
    requested, kept while it is inside the look-back window below the watermark."""

    watermark: str | None = None
    requested: dict[str, str] = field(default_factory=dict)
    retried: tuple[str, ...] = ()  # ids of failed or canceled runs whose items were requested again (or given up)

    @classmethod
    def loads(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data.get("watermark"), dict(data.get("requested") or {}), tuple(data.get("retried") or ()))

    def dumps(self) -> str:
        data: dict[str, object] = {"watermark": self.watermark, "requested": self.requested}
        if self.retried:
            data["retried"] = list(self.retried[-MAX_RETRIED:])
        return json.dumps(data, sort_keys=True)

    def since(self, lookback: timedelta) -> datetime | None:
        """List items updated at or after this time: the watermark minus the look-back window."""
        return None if self.watermark is None else parse_time(self.watermark) - lookback


def advance(cursor: Cursor, seen: Sequence[SAItem], lookback: timedelta) -> tuple[list[SAItem], Cursor]:
    """Item versions not requested before (oldest first), and the cursor after requesting them."""
    fresh: dict[int, SAItem] = {}
    for item in seen:
        last = cursor.requested.get(str(item.id))
        if (last is None or parse_time(last) < item.updated) and (
            item.id not in fresh or fresh[item.id].updated < item.updated
        ):
            fresh[item.id] = item
    new = sorted(fresh.values(), key=lambda i: (i.updated, i.id))
    stamps = [s for s in (cursor.watermark, *(i.updated_at for i in seen)) if s]
    if not stamps:
        return new, cursor
    watermark = max(stamps, key=parse_time)
    floor = parse_time(watermark) - lookback
    requested = {**cursor.requested, **{str(i.id): i.updated_at for i in new}}
    kept = {k: v for k, v in requested.items() if parse_time(v) >= floor}
    return new, Cursor(watermark, dict(sorted(kept.items(), key=lambda kv: int(kv[0]))), cursor.retried)


def with_retried(cursor: Cursor, run_ids: Sequence[str]) -> Cursor:
    return replace(cursor, retried=(*cursor.retried, *run_ids)) if run_ids else cursor


def run_key(project: str, items: Sequence[SAItem]) -> str:
    """`project:item:updatedAt` for one item; for a batch, the project and a digest of those keys."""
    keys = [f"{project}:{i.id}:{i.updated_at}" for i in items]
    if len(keys) == 1:
        return keys[0]
    return f"{project}:batch:{hashlib.sha1('|'.join(sorted(keys)).encode()).hexdigest()[:16]}"
