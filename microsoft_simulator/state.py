"""The simulator's in-memory state and the operations that change it.

Everything mutable lives here behind one lock: directories, admin consents,
pending sign-ins, authorization codes, page snapshots, knobs, and a log of
requests served (so tests can assert, for instance, that the portal only
ever sent GETs to Graph). Tenant mutations are plain dict "ops" so the admin
endpoint, the `mutate` command and tests share one interface, and so a state
file can replay them after a restart.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import TenantSpec
from .directory import Directory
from .knobs import KnobBox, Knobs
from .paging import SnapshotStore
from .tenants import UserFactory, generate_users

STATE_FORMAT = 1
# The simulated app registration used unless the caller brings its own.
DEFAULT_CLIENT_ID = "2bd1578c-0405-48d2-a427-9b5ef0a4ad34"
DEFAULT_CLIENT_SECRET = "sim~client-secret~not-for-production"


@dataclass(frozen=True, slots=True)
class AppRegistration:
    """The portal's multi-tenant app as registered in the (simulated) home tenant."""

    client_id: str
    client_secret: str
    display_name: str = "MSP Portal"
    certificate_pem: bytes | None = None  # verifies client assertions when set
    redirect_uris: tuple[str, ...] = ()  # empty: any http(s) redirect URI is accepted


@dataclass(frozen=True, slots=True)
class Consent:
    """A tenant admin's grant of application permissions to the app."""

    roles: tuple[str, ...]
    granted_at: float


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """An /authorize request waiting for the visitor to pick an account."""

    path_tenant: str
    params: dict[str, str]
    created_at: float
    kind: str = "authorize"  # or "consent": a page's form only answers its own kind


@dataclass(frozen=True, slots=True)
class AuthCode:
    """An issued authorization code, redeemable once within 10 minutes."""

    client_id: str
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    tenant_id: str  # the tenant that issues the tokens (the one signed in to)
    user_id: str
    created_at: float
    home_tenant_id: str = ""  # the user's own tenant when it differs (a guest administrator)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request served, without query string or body (no secrets)."""

    at: float
    method: str
    path: str
    status: int
    tenant_id: str = ""


@dataclass
class SimulatorState:
    """All mutable simulator state. Use `SimulatorState.create()`."""

    seed: int
    sizes: tuple[int, ...]
    app: AppRegistration
    directories: dict[str, Directory]
    factories: dict[str, UserFactory]
    knobs: KnobBox = field(default_factory=KnobBox)
    state_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # persisted alongside the ops (signing key...)
    lock: threading.RLock = field(default_factory=threading.RLock)
    consents: dict[str, Consent] = field(default_factory=dict)
    # Tenants whose admin removed the app (its service principal) after consenting.
    removed_apps: set[str] = field(default_factory=set)
    pending: dict[str, AuthRequest] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    redeemed: dict[str, float] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)
    snapshots: SnapshotStore = field(default_factory=SnapshotStore)
    requests: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=50_000))
    ops: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        specs: list[TenantSpec],
        sizes: tuple[int, ...],
        *,
        seed: int,
        app: AppRegistration,
        knobs: Knobs | None = None,
        state_file: Path | None = None,
    ) -> SimulatorState:
        directories: dict[str, Directory] = {}
        factories: dict[str, UserFactory] = {}
        for spec, size in zip(specs, sizes, strict=True):
            factory = UserFactory(spec, seed)
            directories[spec.id] = Directory(spec, generate_users(factory, max(1, size)))
            factories[spec.id] = factory
        return cls(seed, sizes, app, directories, factories, KnobBox(knobs), state_file)

    # --- lookups -------------------------------------------------------------
    def tenant(self, key: str) -> Directory | None:
        """A directory by tenant id, domain name, short name ("contoso") or display name."""
        key = key.strip().lower()
        directory = self.directories.get(key)
        if directory is None and key:
            directory = next(
                (
                    d
                    for d in self.directories.values()
                    if key in (d.spec.domain, d.spec.initial_domain, d.spec.slug, d.spec.name.lower())
                ),
                None,
            )
        return directory

    def roles_for(self, tenant_id: str, now: float | None = None) -> tuple[str, ...] | None:
        """App roles a token for this tenant carries now; None if the app is not consented."""
        consent = self.consents.get(tenant_id)
        if consent is None:
            return None
        now = time.time() if now is None else now
        if now < consent.granted_at + self.knobs.knobs.consent_propagation_seconds:
            return ()
        return consent.roles

    def token_refusal(self, tenant_id: str, now: float | None = None) -> int | None:
        """The AADSTS code the token endpoint answers instead of an app-only token, if any.

        700016: the app was never consented in the tenant; 7000229: it was, and the
        tenant removed it (its service principal is gone); while a fresh consent
        propagates, the `consent_propagation_error` knob's code if one is set.
        """
        consent = self.consents.get(tenant_id)
        if consent is None:
            return 7000229 if tenant_id in self.removed_apps else 700016
        knobs = self.knobs.knobs
        now = time.time() if now is None else now
        if knobs.consent_propagation_error and now < consent.granted_at + knobs.consent_propagation_seconds:
            return int(knobs.consent_propagation_error)
        return None

    def log_request(self, record: RequestRecord) -> None:
        self.requests.append(record)

    # --- the mutation interface ----------------------------------------------
    def apply(self, op: dict[str, Any], *, record: bool = True) -> dict[str, Any]:
        """Run one op (see `OPS`); persisted ops are replayed after a restart."""
        name = op.get("op", "")
        handler = getattr(self, f"_op_{name}", None)
        if handler is None or name not in OPS:
            raise ValueError(f"unknown op {name!r}; expected one of {', '.join(OPS)}")
        with self.lock:
            result = handler(op)
            if record and name in PERSISTED_OPS:
                self.ops.append(op)
                self.save()
        return result

    def _directory(self, op: dict[str, Any]) -> Directory:
        directory = self.tenant(str(op.get("tenant", "")))
        if directory is None:
            raise KeyError(f"unknown tenant {op.get('tenant')!r}")
        return directory

    def _op_grant_consent(self, op: dict[str, Any]) -> dict[str, Any]:
        directory = self._directory(op)
        given = op.get("roles")
        roles = tuple(self.knobs.knobs.consent_roles if given is None else given)
        op.setdefault("at", time.time())
        self.consents[directory.spec.id] = Consent(roles, float(op["at"]))
        self.removed_apps.discard(directory.spec.id)
        return {"tenant": directory.spec.id, "roles": list(roles)}

    def _op_revoke_consent(self, op: dict[str, Any]) -> dict[str, Any]:
        directory = self._directory(op)
        revoked = self.consents.pop(directory.spec.id, None) is not None
        if revoked:
            self.removed_apps.add(directory.spec.id)
        return {"tenant": directory.spec.id, "revoked": revoked}

    def _op_add_user(self, op: dict[str, Any]) -> dict[str, Any]:
        directory = self._directory(op)
        factory = self.factories[directory.spec.id]
        props = dict(op.get("props") or {})
        user = directory.add(factory.user(op.get("kind"), **props))
        return {"tenant": directory.spec.id, "user": user._asdict()}

    @staticmethod
    def _user_id(directory: Directory, op: dict[str, Any]) -> str:
        """The object id named by `op["user"]`, which may also be a userPrincipalName."""
        user = directory.find(str(op.get("user", "")))
        if user is None:
            raise KeyError(f"no user {op.get('user')!r} in {directory.spec.name}")
        return user.id

    def _op_update_user(self, op: dict[str, Any]) -> dict[str, Any]:
        directory = self._directory(op)
        user_id = self._user_id(directory, op)
        changed = directory.update(user_id, dict(op.get("props") or {}))
        return {"tenant": directory.spec.id, "user": user_id, "changed": sorted(changed)}

    def _op_remove_user(self, op: dict[str, Any]) -> dict[str, Any]:
        directory = self._directory(op)
        user_id = self._user_id(directory, op)
        directory.remove(user_id, permanent=bool(op.get("permanent")))
        return {"tenant": directory.spec.id, "user": user_id, "removed": True}

    def _op_restore_user(self, op: dict[str, Any]) -> dict[str, Any]:
        directory = self._directory(op)
        directory.restore(str(op["user"]))
        return {"tenant": directory.spec.id, "user": op["user"], "restored": True}

    def _op_churn(self, op: dict[str, Any]) -> dict[str, Any]:
        """Bulk changes for benchmarks: new titles, new users, removals (deterministic)."""
        directory = self._directory(op)
        rng = random.Random(f"{op.get('seed', 0)}:{directory.spec.id}:{directory.version}")
        ids = list(directory.users)
        n_update, n_remove = int(op.get("update", 0)), int(op.get("remove", 0))
        picked = rng.sample(ids, min(len(ids), n_update + n_remove))
        for uid in picked[:n_update]:
            directory.update(uid, {"jobTitle": f"Title {rng.randrange(10**6):06d}"})
        for uid in picked[n_update:]:
            directory.remove(uid)
        factory = self.factories[directory.spec.id]
        added = [directory.add(factory.user()).id for _ in range(int(op.get("add", 0)))]
        return {
            "tenant": directory.spec.id,
            "updated": picked[:n_update],
            "removed": picked[n_update:],
            "added": added,
        }

    def _op_set_group(self, op: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a group's members (user ids or UPNs, or group ids: nesting)."""
        from .groups import groups_of, set_members

        directory = self._directory(op)
        known = groups_of(directory)
        members = [
            member if member in known else self._user_id(directory, {"user": member})
            for member in op.get("members") or []
        ]
        group = set_members(directory, str(op["group"]), members, name=str(op.get("name") or ""))
        return {"tenant": directory.spec.id, "group": group.id, "members": sorted(group.members)}

    def _op_expire_delta_links(self, op: dict[str, Any]) -> dict[str, Any]:
        targets = [self._directory(op)] if op.get("tenant") else list(self.directories.values())
        for directory in targets:
            directory.expire_delta_links()
            self.snapshots.drop_tenant(directory.spec.id)
        return {"expired": [d.spec.id for d in targets]}

    def _op_set_knobs(self, op: dict[str, Any]) -> dict[str, Any]:
        return self.knobs.update(dict(op.get("knobs") or {}))

    def _op_reset_knobs(self, op: dict[str, Any]) -> dict[str, Any]:
        return self.knobs.reset()

    # --- persistence ----------------------------------------------------------
    def save(self) -> None:
        """Write the replayable state (atomically) if a state file was given."""
        if self.state_file is None:
            return
        data = {"format": STATE_FORMAT, "seed": self.seed, "sizes": list(self.sizes), **self.extra}
        data["ops"] = self.ops
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, self.state_file)

    def replay(self, ops: list[dict[str, Any]]) -> None:
        for op in ops:
            self.apply(op, record=False)
            self.ops.append(op)

    def summary(self) -> dict[str, Any]:
        with self.lock:
            tenants = []
            for tid, directory in self.directories.items():
                consent = self.consents.get(tid)
                tenants.append(
                    {
                        "id": tid,
                        "name": directory.spec.name,
                        "domain": directory.spec.domain,
                        "admin": {"name": directory.spec.admin_name, "upn": directory.spec.admin_upn},
                        "users": len(directory.users),
                        "version": directory.version,
                        "consent": None if consent is None else {"roles": list(consent.roles)},
                        "groups": _group_summary(directory),
                    }
                )
            return {"tenants": tenants, "knobs": self.knobs.as_dict(), "requests_served": len(self.requests)}


def _group_summary(directory: Directory) -> list[dict[str, Any]]:
    from .groups import groups_of

    return [
        {"id": g.id, "name": g.displayName, "members": len(g.members)} for g in groups_of(directory).values()
    ]


def load_state_file(path: Path) -> dict[str, Any] | None:
    """The saved state, or None if there is none yet."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: unsupported state file format {data.get('format')!r}")
    return data


OPS = (
    "grant_consent",
    "revoke_consent",
    "add_user",
    "update_user",
    "remove_user",
    "restore_user",
    "set_group",
    "churn",
    "expire_delta_links",
    "set_knobs",
    "reset_knobs",
)
PERSISTED_OPS = frozenset(OPS) - {"set_knobs", "reset_knobs"}
