"""Point-in-time page snapshots and the opaque tokens of next and delta links.

A listing or delta round takes one snapshot (a tuple of immutable user
records, so O(n) pointer copies once) and serves every page from it; each
page is projected and serialized with one `json.dumps`. Paging 300k users
therefore costs O(n) in total, not O(n^2). Snapshots are kept in a small LRU:
a link to an evicted snapshot answers like an expired one.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from .directory import DeltaItem
from .tenants import SimUser
from .tokens import b64url, b64url_decode

_INDEX = {name: i for i, name in enumerate(SimUser._fields)}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Items of one listing (`users`) or delta round (`delta`) frozen at its first page."""

    id: str
    tenant_id: str
    kind: str
    items: Sequence[SimUser | DeltaItem]
    select: tuple[str, ...]
    page_size: int
    version: int
    generation: int
    minimal: bool = False  # delta: `Prefer: return=minimal` (only the changed properties)


@dataclass(frozen=True, slots=True)
class DeltaToken:
    """What a `$deltatoken` carries: where the caller's copy stands."""

    tenant_id: str
    version: int
    generation: int
    issued_at: float
    select: tuple[str, ...]
    page_size: int

    def encode(self) -> str:
        fields = [self.tenant_id, self.version, self.generation, round(self.issued_at, 3)]
        return b64url(
            json.dumps([*fields, list(self.select), self.page_size], separators=(",", ":")).encode()
        )

    @classmethod
    def decode(cls, text: str) -> DeltaToken:
        """Raises ValueError on anything that is not a token we issued."""
        try:
            tid, version, generation, issued_at, select, page_size = json.loads(b64url_decode(text))
            return cls(
                str(tid), int(version), int(generation), float(issued_at), tuple(select), int(page_size)
            )
        except (ValueError, TypeError) as exc:
            raise ValueError("invalid delta token") from exc


def encode_skiptoken(snapshot_id: str, offset: int) -> str:
    return b64url(f"{snapshot_id}:{offset}".encode())


def decode_skiptoken(text: str) -> tuple[str, int]:
    try:
        snapshot_id, offset = b64url_decode(text).decode("ascii").split(":")
        return snapshot_id, int(offset)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid skip token") from exc


class SnapshotStore:
    """Bounded LRU of live snapshots."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, **fields: Any) -> Snapshot:
        snapshot = Snapshot(id=secrets.token_hex(8), **fields)
        with self._lock:
            self._items[snapshot.id] = snapshot
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return snapshot

    def get(self, snapshot_id: str) -> Snapshot | None:
        with self._lock:
            snapshot = self._items.get(snapshot_id)
            if snapshot is not None:
                self._items.move_to_end(snapshot_id)
            return snapshot

    def drop_tenant(self, tenant_id: str, kind: str = "delta") -> None:
        with self._lock:
            for key in [k for k, s in self._items.items() if s.tenant_id == tenant_id and s.kind == kind]:
                del self._items[key]


def _getter(select: tuple[str, ...]) -> Callable[[SimUser], tuple[Any, ...]]:
    """A fast tuple-returning accessor for the selected properties."""
    if len(select) == 1:
        index = _INDEX[select[0]]
        return lambda user: (user[index],)
    return itemgetter(*(_INDEX[name] for name in select))


def project(user: SimUser, select: tuple[str, ...]) -> dict[str, Any]:
    return dict(zip(select, _getter(select)(user), strict=True))


def _render_item(
    item: SimUser | DeltaItem, select: tuple[str, ...], getter: Any, minimal: bool = False
) -> dict[str, Any]:
    if isinstance(item, DeltaItem):
        if item.user is None:
            return {"id": item.user_id, "@removed": {"reason": item.reason}}
        if item.props is None or not minimal:
            # By default Graph sends more than the changed properties: here, all selected ones.
            item = item.user
        else:
            user = item.user
            out = {"id": user.id}
            out.update((name, getattr(user, name)) for name in select if name in item.props)
            return out
    return dict(zip(select, getter(item), strict=True))


def render_page(snapshot: Snapshot, offset: int, *, base_url: str, issued_at: float | None = None) -> bytes:
    """One page as JSON bytes, with the next or delta link Graph would add."""
    select = snapshot.select
    getter = _getter(select)
    end = offset + snapshot.page_size
    chunk = snapshot.items[offset:end]
    body: dict[str, Any] = {
        "@odata.context": f"{base_url}/v1.0/$metadata#users({','.join(snapshot.select)})",
        "value": [_render_item(item, select, getter, snapshot.minimal) for item in chunk],
    }
    if end < len(snapshot.items):
        token = encode_skiptoken(snapshot.id, end)
        if snapshot.kind == "delta":
            body["@odata.nextLink"] = f"{base_url}/v1.0/users/delta?$skiptoken={token}"
        else:
            top = snapshot.page_size
            fields = ",".join(snapshot.select)
            body["@odata.nextLink"] = f"{base_url}/v1.0/users?$select={fields}&$top={top}&$skiptoken={token}"
    elif snapshot.kind == "delta":
        delta = DeltaToken(
            snapshot.tenant_id,
            snapshot.version,
            snapshot.generation,
            time.time() if issued_at is None else issued_at,
            snapshot.select,
            snapshot.page_size,
        )
        body["@odata.deltaLink"] = f"{base_url}/v1.0/users/delta?$deltatoken={delta.encode()}"
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
