"""A read-only Microsoft Graph client for one tenant (rule R1: GET, and `$batch` of GETs).

It owns paging, throttling (`Retry-After`, backoff) and the mapping of Graph
errors onto `errors.py`; it yields frozen records from `models.py`, so raw
JSON never travels inward.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext_noop

from integrations.directory_fields import FIELDS, FLAG, ID, LICENSES, TEXT
from integrations.graph import tokens
from integrations.graph.errors import (
    ConsentRequiredError,
    DeltaExpiredError,
    GraphRequestError,
    MalformedResponseError,
    MicrosoftError,
    PageTokenExpiredError,
    PermissionDeniedError,
    TransientError,
    graph_error_meaning,
)
from integrations.graph.http import (
    backoff_seconds,
    error_detail,
    json_object,
    json_or_none,
    origin,
    retry_after_seconds,
    shared_session,
    short_message,
)
from integrations.graph.models import SELECT, AccessToken, GraphUser, UserPage
from integrations.reasons import RECORD_NOTE, Message, message, term

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 999
BATCH_LIMIT = 20  # Graph's maximum number of requests in one $batch
# `$batch` requests in flight at once, per client. Mailbox settings are served by
# Exchange, whose documented per-app concurrency limit is 4 requests: never more.
# Reference: https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits
BATCH_CONCURRENCY = 4
TOKEN_MIN_TTL = 300.0  # seconds; a page can take a while, never start one on a dying token
_RETRYABLE_SUB_STATUSES = frozenset({429, 503, 504})


class TokenGetter(Protocol):
    """`tokens.get_app_token`'s shape, so tests can hand the client a fake."""

    def __call__(self, tenant_id: str, *, force_refresh: bool = False) -> AccessToken: ...


class GraphClient:
    """Reads one tenant's directory with an app-only token."""

    def __init__(
        self,
        tenant_id: str,
        *,
        session: requests.Session | None = None,
        token_getter: TokenGetter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 6,
        batch_concurrency: int = BATCH_CONCURRENCY,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if batch_concurrency < 1:
            raise ValueError("batch_concurrency must be at least 1")
        self.tenant_id = tenant_id
        self._session = session or shared_session()
        self._token_getter: TokenGetter = token_getter or tokens.get_app_token
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._batch_concurrency = batch_concurrency
        # Bounds the `$batch` requests in flight across every thread using this client
        # (the run's classification may call in from more than one).
        self._batch_slots = threading.BoundedSemaphore(batch_concurrency)
        # Guards the request count and the token: `$batch` requests run in worker threads.
        self._lock = threading.RLock()
        self._token: AccessToken | None = None
        # Graph HTTP requests sent (retries included); read by the run that owns the client.
        self.requests_made = 0
        # The narrowest permission that reads users that the current token carries.
        self.read_permission = ""
        self._base = settings.GRAPH_API_URL.rstrip("/")
        self._origin = origin(self._base)

    # -- public reads ---------------------------------------------------------------
    def iter_user_delta(
        self, delta_link: str | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[UserPage]:
        """The directory's users as pages: the changes since `delta_link`, or without one a full pass.

        A full pass takes the delta baseline first ("sync from now":
        `$deltaToken=latest`, no users, just a delta link), then lists `/users`
        at `page_size` (999) per page: 100 requests for 100,000 users where
        `/users/delta` would take 500, as its pages hold about 200 users
        whatever is asked. Changes made meanwhile come back in the next delta
        round (applying them twice is harmless). Either way the last page
        carries the delta link to store for the next run.
        """
        if delta_link is None:
            return self._full_pass(_page_size(page_size))
        # No $top, no odata.maxpagesize: /users/delta does not support them, and
        # the page size is Microsoft's to choose (any size works here).
        # Reference: https://learn.microsoft.com/en-us/graph/api/user-delta?view=graph-rest-1.0
        return self._pages(self._own_link(delta_link, "delta link"), delta=True)

    def iter_users(self, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[UserPage]:
        """Pages of `/users` (a plain listing, no delta link)."""
        # Reference: https://learn.microsoft.com/en-us/graph/api/user-list?view=graph-rest-1.0
        url = f"{self._base}/users?$select={SELECT}&$top={_page_size(page_size)}"
        return self._pages(url, delta=False)

    def delta_baseline(self) -> str:
        """A delta link for the directory's current state, without reading any user.

        The link encodes the `$select`, so later rounds return the same properties.
        """
        # Reference: https://learn.microsoft.com/en-us/graph/delta-query-overview (the
        # `$deltaToken=latest` "sync from now" of directory resources)
        url = f"{self._base}/users/delta?$select={SELECT}&$deltaToken=latest"
        for page in self._pages(url, delta=True):
            if page.delta_link:
                return page.delta_link
        raise MalformedResponseError("GET /users/delta: the baseline ended without a delta link.")

    def _full_pass(self, page_size: int) -> Iterator[UserPage]:
        baseline = self.delta_baseline()
        pages = self.iter_users(page_size=page_size)
        page = next(pages)
        for following in pages:
            yield page
            page = following
        yield UserPage(users=page.users, delta_link=baseline, problems=page.problems)

    def get_organization_name(self) -> str:
        """The tenant's display name.

        A 403 is PermissionDeniedError, not ConsentRequiredError: app-only
        `/organization` needs Organization.Read.All, which the sync does not.
        """
        # Reference: https://learn.microsoft.com/en-us/graph/api/organization-list?view=graph-rest-1.0
        body = self._call(
            "GET", f"{self._base}/organization?$select=displayName", forbidden=PermissionDeniedError
        )
        value = body.get("value")
        first = value[0] if isinstance(value, list) and value else None
        name = first.get("displayName") if isinstance(first, dict) else None
        if not isinstance(name, str):
            raise MalformedResponseError("GET /organization: no displayName in the response.")
        return name

    def get_mailbox_purposes(self, object_ids: Sequence[str]) -> dict[str, str]:
        """object id -> mailbox `userPurpose` ("user", "shared", "room", …), "none" without a
        mailbox, or "" for an account left unclassified (Exchange refused it: a 403 item).

        Each `$batch` item stands alone: a refused or missing mailbox affects
        its own account only. PermissionDeniedError only when the app token's
        `roles` lack MailboxSettings.Read, never inferred from one item's 403.
        """
        if not tokens.can_read_mailbox_settings(self._current_token()):
            raise PermissionDeniedError(
                "The app has no MailboxSettings.Read application permission in this tenant.",
                code="missing_role",
                status=403,
            )
        unique = list(dict.fromkeys(object_ids))
        groups = [unique[start : start + BATCH_LIMIT] for start in range(0, len(unique), BATCH_LIMIT)]
        purposes: dict[str, str] = {}
        if len(groups) <= 1 or self._batch_concurrency == 1:
            for group in groups:
                purposes.update(self._purpose_batch(group))
            return purposes
        # Round trips, not CPU, bound classification: up to BATCH_CONCURRENCY `$batch`
        # requests at once, each retrying its own throttled items after their Retry-After.
        pool = ThreadPoolExecutor(
            max_workers=min(self._batch_concurrency, len(groups)), thread_name_prefix="graph-batch"
        )
        try:
            futures = [pool.submit(self._purpose_batch, group) for group in groups]
            for future in futures:  # in order: the first failure is the one raised
                purposes.update(future.result())
        finally:
            # On a failure the batches not started yet are dropped; the ones in flight finish.
            pool.shutdown(wait=True, cancel_futures=True)
        return purposes

    def iter_group_user_ids(self, group_id: str, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[str]:
        """The users of a group, transitively: see the module's `iter_group_user_ids`."""
        return iter_group_user_ids(self, group_id, page_size=page_size)

    # -- paging -------------------------------------------------------------------------
    def _pages(self, url: str, *, delta: bool, prefer: str | None = None) -> Iterator[UserPage]:
        """The pages from `url` on, each next one requested as soon as its link is known.

        A page's next link is read before its users are parsed and the next
        request goes out at once (in a thread of its own), so Microsoft's round
        trip overlaps the parsing and whatever the caller does with the page.
        At most one request is ahead of the page handed over; an error is raised
        at the page it belongs to, as if the pages were read one after the other.
        With Microsoft's latency a full pass then costs about one round trip per
        page, not a round trip plus the page's parsing (docs/performance.md).
        """
        # A next link is an opaque URL, requested as it came (only its origin is checked).
        # Reference: https://learn.microsoft.com/en-us/graph/paging
        pending = self._request_ahead(url, delta=delta, prefer=prefer)
        try:
            while True:
                body = pending.result()
                next_link, delta_link = self._page_links(body, delta=delta, what=_what("GET", url))
                if next_link is not None:
                    pending = self._request_ahead(next_link, delta=delta, prefer=prefer)
                yield self._user_page(body["value"], next_link, delta_link)
                if next_link is None:
                    return
                url = next_link
        finally:
            pending.cancel()  # a request not started yet is dropped; one in flight finishes unread

    def _request_ahead(self, url: str, *, delta: bool, prefer: str | None) -> Future[dict[str, Any]]:
        """GET `url` in a daemon thread of its own, its answer (or error) in the future returned.

        A daemon thread: a reader that stops early does not wait for the request
        ahead (which may be retrying a throttled page for minutes), nor does the
        worker process when it exits; its answer is dropped.
        """
        future: Future[dict[str, Any]] = Future()

        def request() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(self._call("GET", url, delta=delta, prefer=prefer))
            except BaseException as exc:  # raised to the reader, at its page
                future.set_exception(exc)

        threading.Thread(target=request, name="graph-next-page", daemon=True).start()
        return future

    def _page_links(self, body: dict[str, Any], *, delta: bool, what: str) -> tuple[str | None, str | None]:
        """A page's (next link, delta link), once its shape is checked: a malformed page fails
        before the next one is requested."""
        if not isinstance(body.get("value"), list):
            raise MalformedResponseError(f"{what}: 'value' is not a list.")
        next_link = body.get("@odata.nextLink")
        delta_link = body.get("@odata.deltaLink")
        if next_link is not None:
            next_link = self._own_link(next_link, "next link")
        if delta_link is not None:
            delta_link = self._own_link(delta_link, "delta link")
        if delta and (next_link is None) == (delta_link is None):
            # A delta round that ends without its delta link is incomplete, never "all done".
            raise MalformedResponseError(f"{what}: a delta page must carry exactly one next or delta link.")
        return next_link, delta_link

    @staticmethod
    def _user_page(records: list[Any], next_link: str | None, delta_link: str | None) -> UserPage:
        """The page's users; a record that cannot be used is a problem of the page, not an error."""
        users: list[GraphUser] = []
        problems: list[Message] = []
        for index, raw in enumerate(records):
            parsed = parse_user(raw)
            if isinstance(parsed, GraphUser):
                users.append(parsed)
            else:
                problems.append(
                    message(
                        RECORD_NOTE, user=message(gettext_noop("record %(index)d"), index=index), note=parsed
                    )
                )
        return UserPage(
            users=tuple(users), next_link=next_link, delta_link=delta_link, problems=tuple(problems)
        )

    def _own_link(self, link: object, kind: str) -> str:
        """The link itself if it points at GRAPH_API_URL's origin: the token goes nowhere else."""
        if not isinstance(link, str) or not link:
            raise MalformedResponseError(f"The {kind} is not a URL.")
        if origin(link) != self._origin:
            host = (urlsplit(link).hostname or "?")[:100]
            raise MalformedResponseError(
                f"ForeignHost: refusing to follow a {kind} to {host}, which is not {self._origin[1]}.",
                code="ForeignHost",
            )
        return link

    # -- mailbox purposes -------------------------------------------------------------
    def _purpose_batch(self, object_ids: list[str]) -> dict[str, str]:
        pending = {str(number): oid for number, oid in enumerate(object_ids, start=1)}
        purposes: dict[str, str] = {}
        failures = 0
        while pending:
            # Reference: https://learn.microsoft.com/en-us/graph/api/user-get-mailboxsettings?view=graph-rest-1.0
            sub_requests = [
                {
                    "id": rid,
                    "method": "GET",
                    "url": f"/users/{quote(oid, safe='')}/mailboxSettings/userPurpose",
                }
                for rid, oid in pending.items()
            ]
            # Reference: https://learn.microsoft.com/en-us/graph/json-batching
            with self._batch_slots:
                body = self._call(
                    "POST",
                    f"{self._base}/$batch",
                    json={"requests": sub_requests},
                    forbidden=PermissionDeniedError,
                )
            throttled, waits = self._read_purposes(body, pending, purposes)
            pending = throttled
            if pending:
                failures += 1
                if failures >= self._max_attempts:
                    # Judging these accounts by their shape could import a disabled person as a
                    # mailbox for good: the run is retried later instead, as for any throttling.
                    raise TransientError(
                        f"POST /$batch: mailbox settings still throttled after {failures} attempts.",
                        status=429,
                    )
                # Each throttled item asked for its own wait: the longest one honours them all.
                # Reference: https://learn.microsoft.com/en-us/graph/throttling
                known = [wait for wait in waits if wait is not None]
                self._wait(max(known) if known else backoff_seconds(failures), "POST /$batch (sub-requests)")
        return purposes

    def _read_purposes(
        self, body: dict[str, Any], pending: dict[str, str], purposes: dict[str, str]
    ) -> tuple[dict[str, str], list[float | None]]:
        """Fill `purposes` from one batch answer; return the throttled requests and their waits."""
        responses = body.get("responses")
        if not isinstance(responses, list):
            raise MalformedResponseError("POST /$batch: 'responses' is not a list.")
        throttled: dict[str, str] = {}
        waits: list[float | None] = []
        answered: set[str] = set()
        for sub in responses:
            rid = sub.get("id") if isinstance(sub, dict) else None
            status = sub.get("status") if isinstance(sub, dict) else None
            if not isinstance(rid, str) or rid not in pending or not isinstance(status, int):
                raise MalformedResponseError("POST /$batch: a sub-response has no known id or status.")
            answered.add(rid)
            oid, sub_body = pending[rid], sub.get("body")
            if 200 <= status < 300:
                value = sub_body.get("value") if isinstance(sub_body, dict) else None
                if not isinstance(value, str):
                    raise MalformedResponseError("POST /$batch: a userPurpose answer has no string value.")
                purposes[oid] = value
                continue
            if status in _RETRYABLE_SUB_STATUSES or status >= 500:
                throttled[rid] = oid
                headers = sub.get("headers") if isinstance(sub.get("headers"), dict) else {}
                retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
                waits.append(retry_after_seconds(str(retry_after)) if retry_after is not None else None)
                continue
            code, detail = error_detail(sub_body)
            meaning = graph_error_meaning(code)
            if status == 404 or (meaning is not None and meaning.item == "no_mailbox"):
                purposes[oid] = "none"
            else:
                # 403 ErrorAccessDenied (an Exchange application access policy) or any other
                # item error: this one account is unclassified; the others are not affected.
                logger.info("%s", short_message("GET mailboxSettings/userPurpose", status, code, detail))
                purposes[oid] = ""
        if answered != set(pending):
            raise MalformedResponseError("POST /$batch: some sub-requests got no answer.")
        return throttled, waits

    # -- one request, with retries and error mapping ------------------------------------
    def _call(
        self,
        method: str,
        url: str,
        *,
        json: dict[str, Any] | None = None,
        delta: bool = False,
        forbidden: type[MicrosoftError] = ConsentRequiredError,
        prefer: str | None = None,
    ) -> dict[str, Any]:
        """Send until success or a final answer; return the JSON object of a 2xx."""
        what = _what(method, url)
        headers = {"Accept": "application/json", **({"Prefer": prefer} if prefer else {})}
        failures = 0
        refreshed = False
        while True:
            token = self._current_token()
            with self._lock:
                self.requests_made += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    json=json,
                    headers={**headers, "Authorization": f"Bearer {token.token}"},
                )
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                failures += 1
                reason = type(exc).__name__
                if failures >= self._max_attempts:
                    raise TransientError(f"{what}: {reason} (gave up after {failures} attempts).") from None
                self._backoff(failures, None, f"{what} ({reason})")
                continue
            except requests.RequestException as exc:
                raise GraphRequestError(f"{what}: {type(exc).__name__}.") from None
            status = response.status_code
            if status < 400:
                return json_object(response, what)
            code, detail = error_detail(json_or_none(response))
            text = short_message(what, status, code, detail, response.headers.get("request-id"))
            if status == 401 and not refreshed:
                # Reference: https://learn.microsoft.com/en-us/graph/resolve-auth-errors
                refreshed = True
                with self._lock:
                    if self._token is token:  # not already refreshed by another thread
                        self._set_token(self._token_getter(self.tenant_id, force_refresh=True))
                continue
            if status == 401:
                # Authorization_IdentityNotFound: the app's service principal was deleted from the tenant.
                raise ConsentRequiredError(text, code=code or "Unauthorized", status=status)
            if status == 429 or status >= 500:
                failures += 1
                if failures >= self._max_attempts:
                    raise TransientError(
                        f"{text} (gave up after {failures} attempts)", code=code, status=status
                    )
                self._backoff(failures, response.headers.get("Retry-After"), f"{what} (HTTP {status})")
                continue
            raise _client_error(status, code, text, delta=delta, forbidden=forbidden)

    def _backoff(self, failures: int, retry_after: str | None, what: str) -> None:
        """Wait as Graph asked (Retry-After), else exponential backoff with full jitter."""
        # Reference: https://learn.microsoft.com/en-us/graph/throttling
        wait = retry_after_seconds(retry_after)
        self._wait(backoff_seconds(failures) if wait is None else wait, what)

    def _wait(self, seconds: float, what: str) -> None:
        logger.info("Graph %s: retrying in %.1f s", what, seconds)
        self._sleep(seconds)

    def _current_token(self) -> AccessToken:
        with self._lock:
            token = self._token
            if token is None or token.expires_at - time.time() < TOKEN_MIN_TTL:
                token = self._set_token(self._token_getter(self.tenant_id))
            return token

    def _set_token(self, token: AccessToken) -> AccessToken:
        """Keep a newly obtained token, once it proves the app still holds a permission that reads users."""
        self.read_permission = tokens.require_role(token)
        self._token = token
        return token


# -- parsing ---------------------------------------------------------------------------
# Parsing runs once per user per page (100,000 times in a large import): the property
# table is walked once here, not per record, and the `present` sets are shared.
_STRING_PROPERTIES = tuple((f.graph, f.attribute) for f in FIELDS if f.kind == TEXT)
_FLAG_PROPERTIES = tuple((f.graph, f.attribute) for f in FIELDS if f.kind == FLAG)
_LICENSE_PROPERTIES = tuple((f.graph, f.attribute) for f in FIELDS if f.kind == LICENSES)
_PRESENT: dict[tuple[str, ...], frozenset[str]] = {}  # at most 2**12 keys: subsets in a fixed order
_CHECKED_ORDER = (*_STRING_PROPERTIES, *_FLAG_PROPERTIES, *_LICENSE_PROPERTIES)
# What the checked path expects of each property, in the same order.
_CHECKED_TYPES: tuple[tuple[str, str, type, str], ...] = (
    *((prop, attribute, str, gettext_noop("a string")) for prop, attribute in _STRING_PROPERTIES),
    *((prop, attribute, bool, gettext_noop("a boolean")) for prop, attribute in _FLAG_PROPERTIES),
    *((prop, attribute, list, gettext_noop("a list")) for prop, attribute in _LICENSE_PROPERTIES),
)
_GRAPH_USER_ORDER = GraphUser._fields
# The fast path reads a record's properties in GraphUser's positional order (after
# object_id, present, removed): absent ones read as None, which is also GraphUser's default.
_POSITIONAL = tuple(
    f.graph for f in sorted(FIELDS, key=lambda f: _GRAPH_USER_ORDER.index(f.attribute)) if f.kind != ID
)
_KIND_AT = tuple(next(f.kind for f in FIELDS if f.graph == prop) for prop in _POSITIONAL)
_LICENSES_AT = tuple(n for n, kind in enumerate(_KIND_AT) if kind == LICENSES)
# The types each position may hold (None: the property is absent or empty).
_TYPES_BY_KIND = {TEXT: frozenset({str, type(None)}), FLAG: frozenset({bool, type(None)})}
_TYPES_AT = tuple(_TYPES_BY_KIND.get(kind, frozenset({list, type(None)})) for kind in _KIND_AT)
_PRESENT_BY_KEYS: dict[tuple[str, ...], frozenset[str]] = {}  # records' key tuples seen (bounded below)
_PRESENT_BY_KEYS_MAX = 4096


def parse_user(raw: object) -> GraphUser | Message:
    """A GraphUser, or why the record is unusable (a message). `present` names the properties sent.

    The common record (a JSON object whose values all have their expected
    types) is read with C-level calls and built positionally; anything else
    takes the checked path below, which also says what is wrong.
    """
    if type(raw) is not dict:
        return _parse_user_checked(raw)
    object_id = raw.get("id")
    values = list(map(raw.get, _POSITIONAL))
    if (
        type(object_id) is not str
        or not object_id.strip()
        or not all(map(frozenset.__contains__, _TYPES_AT, map(type, values)))
    ):
        return _parse_user_checked(raw)
    keys = tuple(raw)
    present = _PRESENT_BY_KEYS.get(keys)
    if present is None:
        present = _present(raw)
        if len(_PRESENT_BY_KEYS) < _PRESENT_BY_KEYS_MAX:
            _PRESENT_BY_KEYS[keys] = present
    for at in _LICENSES_AT:  # a list of licences, stored as "has any"
        licenses = values[at]
        if licenses is not None:
            values[at] = len(licenses) > 0
    return GraphUser(object_id, present, "@removed" in raw, *values)


def _present(raw: dict[str, Any]) -> frozenset[str]:
    key = tuple(attribute for prop, attribute in _CHECKED_ORDER if prop in raw)
    present = _PRESENT.get(key)
    if present is None:
        present = _PRESENT.setdefault(key, frozenset({"object_id", *key}))
    return present


def _parse_user_checked(raw: object) -> GraphUser | Message:
    """`parse_user`, property by property: the path of unusual records and of errors."""
    if not isinstance(raw, dict):
        return gettext_noop("not a JSON object")
    object_id = raw.get("id")
    if not isinstance(object_id, str) or not object_id.strip():
        return gettext_noop("no string id")
    values: dict[str, Any] = {}
    for prop, attribute, expected, noun in _CHECKED_TYPES:
        if prop in raw:
            value = raw[prop]
            if value is not None and not isinstance(value, expected):
                return message(
                    gettext_noop("user %(user)s: %(property)s is not %(expected)s"),
                    user=object_id,
                    property=prop,
                    expected=term(noun),
                )
            # A list of licences is stored as "has any".
            values[attribute] = len(value) > 0 if isinstance(value, list) else value
    key = tuple(values)
    present = _PRESENT.get(key)
    if present is None:
        present = _PRESENT.setdefault(key, frozenset({"object_id", *key}))
    return GraphUser(object_id=object_id, present=present, removed="@removed" in raw, **values)


def _client_error(
    status: int, code: str, text: str, *, delta: bool, forbidden: type[MicrosoftError]
) -> MicrosoftError:
    """A 4xx (other than 401/429) as the exception of the error table (`errors.GRAPH_ERRORS`)."""
    lowered = code.lower()
    if status == 403:
        return forbidden(text, code=code, status=status)
    meaning = graph_error_meaning(code)
    if status == 400 and meaning is not None and meaning.error is PageTokenExpiredError:
        return PageTokenExpiredError(text, code=code, status=status)
    # Reference: https://learn.microsoft.com/en-us/graph/delta-query-overview
    expired = (meaning is not None and meaning.error is DeltaExpiredError) or (
        delta and ("syncstate" in lowered or "resync" in lowered)
    )
    if status == 410 or (status == 400 and expired):
        return DeltaExpiredError(text, code=code or "Gone", status=status)
    return GraphRequestError(text, code=code, status=status)


def _what(method: str, url: str) -> str:
    return f"{method} {urlsplit(url).path}"


def _page_size(page_size: int) -> int:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    return page_size


# -- group scope (design.md §6.2) -------------------------------------------------------
# Any of these application roles can list a group's members; GroupMember.Read.All is the least.
GROUP_MEMBER_ROLES = frozenset({"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"})


def iter_group_user_ids(
    client: GraphClient, group_id: str, *, page_size: int = MAX_PAGE_SIZE
) -> Iterator[str]:
    """Object ids of the users in a group, transitively (members of nested groups too).

    The scope policy needs GroupMember.Read.All, which a connection consented
    before groups were chosen does not have: the token's roles are checked first,
    so the run fails with "consent again" instead of an opaque 403.
    """
    token = client._current_token()
    if not token.roles & GROUP_MEMBER_ROLES:
        raise ConsentRequiredError(
            "Scoping by group needs the GroupMember.Read.All permission, which this tenant has not "
            "granted yet: an administrator of the tenant must consent again.",
            code="GroupMemberReadMissing",
            status=403,
        )
    # Reference: https://learn.microsoft.com/en-us/graph/api/group-list-transitivemembers?view=graph-rest-1.0
    # (the OData cast to microsoft.graph.user keeps groups, devices and contacts out of the list)
    url: str | None = (
        f"{client._base}/groups/{quote(group_id, safe='')}/transitiveMembers/microsoft.graph.user"
        f"?$select=id&$top={_page_size(page_size)}"
    )
    while url:
        body = client._call("GET", url, forbidden=ConsentRequiredError)
        records = body.get("value")
        if not isinstance(records, list):
            raise MalformedResponseError("GET /groups/transitiveMembers: 'value' is not a list.")
        for record in records:
            object_id = record.get("id") if isinstance(record, dict) else None
            if isinstance(object_id, str) and object_id.strip():
                yield object_id.strip()
        next_link = body.get("@odata.nextLink")
        url = client._own_link(next_link, "next link") if next_link is not None else None
