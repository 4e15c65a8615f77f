"""Fault-injection and behaviour knobs, settable at start and at run time.

Each fault is a `FaultRule`: it fires for the next `next` matching requests,
and otherwise with probability `rate` (drawn from a seeded RNG so a run can be
repeated). With an empty `path` a rule matches every top-level Graph request;
with a `path` it matches any request (or `$batch` sub-request) whose path and
query contain that text, e.g. "mailboxSettings" or "/oauth2/v2.0/token".
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultRule:
    """When to inject one kind of fault."""

    rate: float = 0.0
    next: int = 0
    retry_after: str | None = "1"  # seconds ("2", "0.5") or None to send no Retry-After header
    path: str = ""

    def matches(self, path: str, *, top_level: bool) -> bool:
        if self.path:
            return self.path in path
        return top_level and path.startswith("/v1.0/")


@dataclass
class Knobs:
    """The simulator's adjustable behaviour. Defaults behave like a healthy tenant."""

    latency_ms: float = 0.0
    throttle: FaultRule = field(default_factory=FaultRule)  # 429 TooManyRequests
    unavailable: FaultRule = field(default_factory=FaultRule)  # 503 ServiceUnavailable
    gateway_timeout: FaultRule = field(default_factory=lambda: FaultRule(retry_after=None))  # 504
    malformed: FaultRule = field(default_factory=FaultRule)  # 200 with a truncated JSON body
    # 400 Directory_ExpiredPageToken to a request that follows a next link ($skiptoken).
    expired_page_token: FaultRule = field(default_factory=lambda: FaultRule(retry_after=None))
    delta_expiry_seconds: float = 7 * 24 * 3600.0
    delta_expired_status: int = 400  # 400 syncStateNotFound, or 410 Gone
    consent_roles: tuple[str, ...] = ("User.Read.All", "MailboxSettings.Read")
    consent_propagation_seconds: float = 0.0
    # While consent propagates: "" issues tokens without roles; an AADSTS code ("700016",
    # "7000229") makes the token endpoint refuse instead, as Entra sometimes does.
    consent_propagation_error: str = ""
    token_lifetime_seconds: int = 3599
    default_page_size: int = 100  # /users without $top (it honours $top up to 999)
    # /users/delta pages hold about 200 users whatever is asked ($top and maxpagesize ignored).
    delta_page_size: int = 200
    # Object ids (or UPNs) whose mailbox settings answer 403 ErrorAccessDenied (an Exchange
    # application access policy) or 404 MailboxNotEnabledForRESTAPI, item by item.
    mailbox_denied: tuple[str, ...] = ()
    mailbox_missing: tuple[str, ...] = ()
    batch_shuffle: bool = True  # Graph documents that batch responses come in any order
    fault_seed: int = 0
    # The app registration emits directory roles (`wids`) in ID tokens
    # (groupMembershipClaims includes DirectoryRole); False: the claim is left out.
    id_token_wids: bool = True
    # Tamper with the next ID tokens, for the portal's validation tests:
    # "" (none), "wrong_aud", "foreign_iss", "expired", "bad_signature".
    id_token_fault: str = ""


FAULT_NAMES = ("throttle", "unavailable", "gateway_timeout", "malformed", "expired_page_token")
FAULT_STATUS = {"throttle": 429, "unavailable": 503, "gateway_timeout": 504}


def _coerce(current: Any, value: Any, name: str) -> Any:
    """Convert a JSON or command-line value to the type of the knob it sets."""
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(current, int) and not isinstance(current, bool):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, tuple):
        items = value.split(",") if isinstance(value, str) else list(value)
        return tuple(str(item).strip() for item in items if str(item).strip())
    if name == "retry_after":
        return None if value in (None, "", "none", "None") else str(value)
    return value if value is None else str(value)


class KnobBox:
    """Thread-safe holder of the knobs plus the fault RNG."""

    def __init__(self, knobs: Knobs | None = None) -> None:
        self._lock = threading.Lock()
        self.knobs = knobs or Knobs()
        self._rng = random.Random(self.knobs.fault_seed)

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply `{"latency_ms": 5, "throttle": {"rate": 0.1}, "throttle.next": 2}`."""
        with self._lock:
            for key, value in changes.items():
                if isinstance(value, dict) and key in FAULT_NAMES:
                    for sub, sub_value in value.items():
                        self._set(f"{key}.{sub}", sub_value)
                else:
                    self._set(key, value)
            if "fault_seed" in changes:
                self._rng = random.Random(self.knobs.fault_seed)
            return self.as_dict()

    def _set(self, dotted: str, value: Any) -> None:
        target: Any = self.knobs
        *parents, name = dotted.split(".")
        for parent in parents:
            if parent not in FAULT_NAMES:
                raise ValueError(f"unknown knob {dotted!r}")
            target = getattr(target, parent)
        names = {f.name for f in dataclasses.fields(target)}
        if name not in names or isinstance(getattr(target, name), FaultRule):
            raise ValueError(f"unknown knob {dotted!r}")
        setattr(target, name, _coerce(getattr(target, name), value, name))

    def reset(self) -> dict[str, Any]:
        with self._lock:
            self.knobs = Knobs()
            self._rng = random.Random(0)
            return self.as_dict()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.knobs)

    def pick_fault(
        self, path: str, *, top_level: bool, names: tuple[str, ...] = FAULT_NAMES
    ) -> tuple[str, FaultRule]:
        """The fault to inject for this request ("" if none); consumes `next` counters."""
        with self._lock:
            for name in names:
                rule: FaultRule = getattr(self.knobs, name)
                if not (rule.next > 0 or rule.rate > 0) or not rule.matches(path, top_level=top_level):
                    continue
                if rule.next > 0:
                    rule.next -= 1
                    return name, dataclasses.replace(rule)
                if self._rng.random() < rule.rate:
                    return name, dataclasses.replace(rule)
            return "", FaultRule()
