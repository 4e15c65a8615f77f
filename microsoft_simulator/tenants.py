"""Deterministic simulated tenants: same seed and size, same directory.

The data is shaped to exercise the sync's edge cases (R4-R8 and the
defaults of docs/design.md §2): office values differing only in case and
surrounding spaces, shared/room/equipment mailboxes, guests with `#EXT#`
UPNs, disabled leavers, users without `mail`, duplicate emails differing in
case, unicode names and maximum-length values. Users are immutable tuples so
a page snapshot is a cheap tuple copy and 300k users fit in memory.
"""

from __future__ import annotations

import functools
import random
import unicodedata
import uuid
from typing import Any, NamedTuple

from .catalog import (
    CITIES,
    DEPARTMENTS,
    GUEST_DOMAINS,
    NAMES,
    POOLS,
    SHARED_NAMES,
    TITLES,
    TenantSpec,
)


class SimUser(NamedTuple):
    """One directory user: the Graph properties, then the mailbox purpose."""

    id: str
    displayName: str | None
    givenName: str | None
    surname: str | None
    jobTitle: str | None
    mobilePhone: str | None
    mail: str | None
    userPrincipalName: str
    officeLocation: str | None
    department: str | None
    accountEnabled: bool
    userType: str
    assignedLicenses: tuple[Any, ...]
    businessPhones: tuple[str, ...]
    preferredLanguage: str | None
    purpose: str | None  # mailboxSettings.userPurpose; None: the user has no mailbox


GRAPH_PROPERTIES: tuple[str, ...] = SimUser._fields[:-1]
# What Graph returns for a user when no $select is given.
DEFAULT_SELECT: tuple[str, ...] = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)

_E3 = ({"disabledPlans": [], "skuId": "05e9a617-0261-4cee-bb44-138d3ef5d965"},)
_E5 = ({"disabledPlans": [], "skuId": "06ebc4ee-1bb5-47dd-8120-11324bc54e06"},)
_NO_LICENSE: tuple[Any, ...] = ()
_NO_PHONES: tuple[str, ...] = ()


_CITY_BY_LOWER = {name.lower(): data for name, data in CITIES.items()}


def _city(office: str) -> tuple[str, str, str]:
    """Phone pattern, language and name pool of an office (any case/spacing)."""
    return _CITY_BY_LOWER.get(office.strip().lower(), CITIES["Milan HQ"])


@functools.lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    """ASCII email local part from a name: accents dropped, punctuation removed."""
    if "|" in text:
        text = text.split("|", 1)[1]
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c for c in ascii_text if c.isalnum())


def _native(text: str) -> str:
    return text.split("|", 1)[0]


def _digits(rng: random.Random, pattern: str) -> str:
    """Fill each `#` of a phone pattern with a digit (one random draw per number)."""
    count = pattern.count("#")
    digits = iter(str(rng.randrange(10**count)).zfill(count))
    return "".join(next(digits) if c == "#" else c for c in pattern)


def _variant(rng: random.Random, value: str) -> str:
    """The same value as Entra admins type it: other case, stray spaces."""
    return rng.choice((f" {value.lower()}", f"{value.upper()} ", f"{value}  ", value.lower(), f" {value}"))


class UserFactory:
    """Builds users for one tenant; remembers used local parts so emails stay unique."""

    def __init__(self, spec: TenantSpec, seed: int | str) -> None:
        self.spec = spec
        self.rng = random.Random(f"{seed}:{spec.id}")
        self._used: set[str] = set()
        self._next_suffix: dict[str, int] = {}
        self._mails: list[str] = []

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _local(self, base: str) -> str:
        # A per-base counter keeps this O(1): common names repeat thousands of times.
        local, n = base, self._next_suffix.get(base, 1)
        while local in self._used:
            n += 1
            local = f"{base}{n}"
        self._next_suffix[base] = n
        self._used.add(local)
        return local

    def _office(self, *, variants: bool = True) -> str:
        rng = self.rng
        office = rng.choice(self.spec.offices)
        return _variant(rng, office) if variants and rng.random() < 0.03 else office

    def admin(self) -> SimUser:
        spec = self.spec
        self._used.add(spec.admin_upn.split("@")[0].lower())
        office = spec.offices[0]
        return SimUser(
            spec.admin_id,
            spec.admin_name,
            spec.admin_given,
            spec.admin_surname,
            "IT Administrator",
            _digits(self.rng, _city(office)[0]),
            f"{spec.admin_given}{spec.admin_surname[0]}@{spec.domain}",
            spec.admin_upn,
            office,
            "IT",
            True,
            "Member",
            _E5,
            _NO_PHONES,
            _city(office)[1],
            "user",
        )

    def user(self, kind: str | None = None, **overrides: Any) -> SimUser:
        """One user; `kind` forces a category, otherwise it is drawn."""
        rng = self.rng
        if kind is None:
            r = rng.random()
            kind = (
                "shared"
                if r < 0.04
                else "room"
                if r < 0.05
                else "equipment"
                if r < 0.055
                else "guest"
                if r < 0.10
                else "leaver"
                if r < 0.14
                else "nomail"
                if r < 0.17
                else "dupmail"
                if r < 0.171 and self._mails
                else "member"
            )
        build = getattr(self, f"_{kind}")
        user: SimUser = build()
        return user._replace(**overrides) if overrides else user

    def _person(self, office: str) -> tuple[str, str, str, str]:
        rng = self.rng
        pool = _city(office)[2] if rng.random() < 0.75 else rng.choice(POOLS)
        given_names, surnames = NAMES[pool]
        given, surname = rng.choice(given_names), rng.choice(surnames)
        local = self._local(f"{_fold(given)}.{_fold(surname)}")
        g, s = _native(given), _native(surname)
        display = f"{s} {g}" if pool in ("ja", "zh", "ko") else f"{g} {s}"
        if rng.random() < 0.005:
            display += " 🚀"
        return g, s, display, local

    def _member(
        self, *, enabled: bool = True, with_mail: bool = True, purpose: str | None = "user"
    ) -> SimUser:
        rng, spec = self.rng, self.spec
        office: str | None = self._office()
        phone_pattern, language, _ = _city(office or "")
        given, surname, display, local = self._person(office or "")
        if rng.random() < 0.05:
            office = None
        department: str | None = rng.choice(DEPARTMENTS)
        if rng.random() < 0.03:
            department = _variant(rng, department)
        elif rng.random() < 0.04:
            department = None
        title: str | None = rng.choice(TITLES) if rng.random() > 0.05 else None
        if title and rng.random() < 0.002:
            title = "Chief Happiness Officer 🎉"
        mobile = _digits(rng, phone_pattern) if rng.random() > 0.15 else None
        mail = f"{local}@{spec.domain}" if with_mail else None
        upn = mail if mail and rng.random() > 0.1 else f"{local}@{spec.initial_domain}"
        if mail and enabled:
            self._mails.append(mail)
        licenses = (_E5 if rng.random() < 0.2 else _E3) if with_mail and enabled else _NO_LICENSE
        return SimUser(
            self._new_id(),
            display,
            given,
            surname,
            title,
            mobile,
            mail,
            upn,
            office,
            department,
            enabled,
            "Member",
            licenses,
            _NO_PHONES,
            language,
            purpose if with_mail else None,
        )

    def _leaver(self) -> SimUser:
        return self._member(enabled=False)

    def _nomail(self) -> SimUser:
        return self._member(with_mail=False)

    def _dupmail(self) -> SimUser:
        """A second user whose mail equals an earlier one's but for the case."""
        user = self._member()
        other = self.rng.choice(self._mails[:-1] or self._mails)
        local, domain = other.split("@")
        clash = f"{local[:1].upper()}{local[1:]}@{domain.upper()}" if local[:1].islower() else other.lower()
        upn_local = self._local(f"{local}.dup")
        return user._replace(mail=clash, userPrincipalName=f"{upn_local}@{self.spec.initial_domain}")

    def _mailbox(self, purpose: str) -> SimUser:
        rng, spec = self.rng, self.spec
        office = self._office(variants=False)
        city = office.replace(" HQ", "")
        if purpose == "shared":
            word = rng.choice(SHARED_NAMES)
            display = f"{word.upper() if len(word) <= 2 else word.capitalize()} {city}"
        elif purpose == "room":
            word = "room"
            display = f"Room {office} {rng.randrange(1, 6)}.{rng.randrange(1, 20):02d}"
        else:
            word = "equipment"
            display = f"Projector {city} {rng.randrange(1, 9)}"
        local = self._local(f"{word}.{_fold(city)}")
        mail = f"{local}@{spec.domain}"
        return SimUser(
            self._new_id(),
            display,
            None,
            None,
            None,
            None,
            mail,
            mail,
            office,
            None,
            False,
            "Member",
            _NO_LICENSE,
            _NO_PHONES,
            None,
            purpose,
        )

    def _shared(self) -> SimUser:
        return self._mailbox("shared")

    def _room(self) -> SimUser:
        return self._mailbox("room")

    def _equipment(self) -> SimUser:
        return self._mailbox("equipment")

    def _guest(self) -> SimUser:
        rng, spec = self.rng, self.spec
        given, surname, display, local = self._person("London")
        ext_domain = rng.choice(GUEST_DOMAINS)
        return SimUser(
            self._new_id(),
            f"{display} (Guest)",
            given,
            surname,
            None,
            None,
            f"{local}@{ext_domain}",
            f"{local}_{ext_domain}#EXT#@{spec.initial_domain}",
            self._office() if rng.random() < 0.5 else None,
            None,
            True,
            "Guest",
            _NO_LICENSE,
            _NO_PHONES,
            None,
            None,
        )

    def _maxlen(self) -> SimUser:
        """Every length-limited property at Graph's maximum (docs/design.md §5)."""
        user = self._member()
        given, surname = ("Maximiliana" * 6)[:64], ("Lunghissimo-Cognome" * 4)[:64]
        return user._replace(
            displayName=f"{given} {surname}",
            givenName=given,
            surname=surname,
            jobTitle=("Senior Principal Distinguished Engineer, " * 4)[:128],
            department=("Research and Development " * 3)[:64],
            mobilePhone=("+39 333 000 0000 ext. " + "9" * 64)[:64],
        )

    def _emoji(self) -> SimUser:
        return self._member()._replace(givenName="Ana 🌸", surname="Lima", displayName="Ana 🌸 Lima")


# Positions forced in every tenant so even a 20-user tenant has each edge case.
_FORCED: dict[int, str] = {
    1: "shared",
    2: "room",
    3: "guest",
    4: "leaver",
    5: "nomail",
    6: "member",
    7: "dupmail",
    8: "equipment",
    9: "maxlen",
    10: "emoji",
    11: "shared",
}


def generate_users(factory: UserFactory, count: int) -> list[SimUser]:
    """The tenant admin first, then `count - 1` users (forced edge cases first)."""
    users = [factory.admin()]
    for index in range(1, count):
        users.append(factory.user(_FORCED.get(index)))
    if count > 13:
        # Guarantee one office value that differs only by case and spaces.
        first = factory.spec.offices[0]
        users[12] = users[12]._replace(officeLocation=f" {first.lower()}")
        users[13] = users[13]._replace(officeLocation=f"{first.upper()} ")
    return users
