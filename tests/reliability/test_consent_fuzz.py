"""Item 4: the consent callback under fuzzing (hypothesis, hundreds of examples).

Each example starts a real connect flow (POST Import from Azure AD, the
sign-in through MSAL against Microsoft on `responses`), then sends a callback
built from the valid one with parameters missing, duplicated, huge or
malformed, a non-GUID or foreign tenant, a replayed, expired or another
session's state, an error with admin_consent=True, NUL and right-to-left
characters, raw undecodable bytes, from the right or the wrong user.

Never a 500; a connection is bound exactly when every check of SPEC.md
section 4 holds (the oracle below restates them independently).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from unittest import mock
from urllib.parse import parse_qs, quote, urlencode, urlparse

import pytest
import responses
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations import consent
from integrations.models import AzureConnection, SyncRun
from tests.conftest import make_user
from tests.integrations.consent_steps import confirmation_fields
from tests.integrations.graph_helpers import LOGIN, OTHER_TENANT, TENANT
from tests.integrations.microsoft_responses import AUTH_CODE
from tests.reliability.figures import Stopwatch, count, record

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.usefixtures("entra")]

CALLBACK = "/integrations/azure/callback/"
RLO, RLM, ZWSP, NUL = "\u202e", "\u200f", "\u200b", "\x00"

nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            NUL,
            f"{RLO}eurt",
            f"True{NUL}",
            f"{RLM}True",
            "A" * 70_000,
            "../../etc/passwd",
            "<script>alert(1)</script>",
            "%00",
            "' OR 1=1 --",
            "\ud7ff\ue000\U0010ffff",
            "é" * 300,
        ]
    ),
)
tenant_values = st.one_of(
    st.sampled_from(
        [
            "same",
            "upper",
            "padded",
            "other",
            "missing",
            "empty",
            "nul",
            "rtl",
            "zwsp",
            "domain",
            "organizations",
            "common",
            "not-a-guid",
        ]
    ),
    nasty_text.map(lambda text: ("raw", text)),
)


@dataclass
class Case:
    sender: str  # who sends the callback, from which session
    state: str | tuple
    tenant: str | tuple
    admin_consent: str | None
    error: str | None
    error_description: str | None
    duplicate: str | None  # a parameter sent twice
    extra: dict = field(default_factory=dict)
    expired: bool = False
    replay: bool = False
    raw_bytes: bool = False


VALID = {
    "sender": "same session",
    "state": "valid",
    "tenant": "same",
    "admin_consent": "True",
    "error": None,
    "error_description": None,
    "duplicate": None,
    "extra": {},
    "expired": False,
    "replay": False,
    "raw_bytes": False,
}
MUTATIONS = {
    "sender": st.sampled_from(["same user, new session", "attacker", "member", "anonymous"]),
    "state": st.one_of(
        st.sampled_from(["missing", "empty", "other session", "sign-in state", "padded", "upper"]),
        nasty_text.map(lambda text: ("raw", text)),
    ),
    "tenant": tenant_values,
    "admin_consent": st.one_of(st.sampled_from(["true", "TRUE", "False", None]), nasty_text),
    "error": st.one_of(st.sampled_from(["access_denied", "invalid_request", ""]), nasty_text),
    "error_description": st.one_of(st.just("AADSTS65004: User declined to consent."), nasty_text),
    "duplicate": st.sampled_from(["state", "tenant", "admin_consent", "error"]),
    "extra": st.dictionaries(
        nasty_text.filter(lambda key: 0 < len(key) < 100), nasty_text, min_size=1, max_size=3
    ),
    "expired": st.just(True),
    "replay": st.just(True),
    "raw_bytes": st.just(True),
}


@st.composite
def cases(draw) -> Case:
    """The valid callback with none, one or a few of its parts broken."""
    broken = draw(st.sets(st.sampled_from(sorted(MUTATIONS)), max_size=4))
    return Case(**{name: draw(MUTATIONS[name]) if name in broken else VALID[name] for name in VALID})


def start_flow(client: Client, customer, microsoft) -> tuple[str, str]:
    """POST Import from Azure AD and complete the sign-in leg; return (sign-in state, consent state)."""
    response = client.post(reverse("integrations:connect", args=[customer.pk]))
    assert response.status_code == 302, response.status_code
    query = {k: v[0] for k, v in parse_qs(urlparse(response["Location"]).query).items()}
    microsoft.nonce = query["nonce"]
    back = client.get(CALLBACK, {"code": AUTH_CODE, "state": query["state"]})
    assert back.status_code == 302, _alert(back)
    fields = confirmation_fields(client.get(back["Location"]))
    to_consent = client.post(reverse("integrations:confirm"), fields)
    assert to_consent.status_code == 302, _alert(to_consent)
    consent_query = {k: v[0] for k, v in parse_qs(urlparse(to_consent["Location"]).query).items()}
    return query["state"], consent_query["state"]


@pytest.fixture
def fuzz_world(customer, other_customer, microsoft):
    """The actors; codes other than the one Microsoft issued are refused like Entra does."""
    _refuse_unknown_codes(microsoft)
    return {
        "admin": make_user("fuzz-admin", customer=customer, role="admin"),
        "attacker": make_user("fuzz-attacker", customer=other_customer, role="admin"),
        "member": make_user("fuzz-member", customer=customer, role="member"),
    }


def _refuse_unknown_codes(microsoft) -> None:
    redeem = microsoft._redeem_code

    def answer(request):
        if parse_qs(request.body).get("code") != [AUTH_CODE]:
            body = {
                "error": "invalid_grant",
                "error_description": "AADSTS70000: The provided code is invalid.",
            }
            return 400, {}, json.dumps(body)
        return redeem(request)

    url = f"{LOGIN}/organizations/oauth2/v2.0/token"
    microsoft.rsps.remove(responses.POST, url)
    microsoft.rsps.add_callback(responses.POST, url, callback=answer)


def logged_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_fuzzed_consent_callbacks_never_fail_and_never_bind_unless_every_check_holds(
    customer, other_customer, fuzz_world, microsoft
):
    tally = {"examples": 0, "callbacks": 0, "errors_500": 0, "bindings": 0, "expected_bindings": 0}
    clock = Stopwatch()

    @settings(
        max_examples=count(300),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=cases())
    def check(case: Case) -> None:
        tally["examples"] += 1
        AzureConnection.objects.all().delete()
        SyncRun.objects.all().delete()
        admin = logged_in(fuzz_world["admin"])
        signin_state, state = start_flow(admin, customer, microsoft)
        # The attacker administers another customer and signs in to another tenant.
        attacker = logged_in(fuzz_world["attacker"])
        microsoft.signed_in_tid = OTHER_TENANT
        try:
            _, attacker_state = start_flow(attacker, other_customer, microsoft)
        finally:
            microsoft.signed_in_tid = TENANT
        sender = {
            "same session": admin,
            "same user, new session": logged_in(fuzz_world["admin"]),
            "attacker": attacker,
            "member": logged_in(fuzz_world["member"]),
            "anonymous": Client(raise_request_exception=False),
        }[case.sender]
        params = _params(case, state=state, signin_state=signin_state, other_state=attacker_state)
        expected = _binding(case, params, state=state, attacker_state=attacker_state)
        sends = 2 if case.replay else 1
        for attempt in range(sends):
            with mock.patch.object(consent.time, "time", _clock(case.expired)):
                response = sender.get(f"{CALLBACK}?{_query(params, raw=case.raw_bytes)}")
            tally["callbacks"] += 1
            tally["errors_500"] += response.status_code >= 500
            assert response.status_code < 500, (case, response.status_code)
            bound = {
                "victim": AzureConnection.objects.filter(customer=customer, tenant_id=TENANT).exists(),
                "attacker": AzureConnection.objects.filter(
                    customer=other_customer, tenant_id=OTHER_TENANT
                ).exists(),
            }
            others = AzureConnection.objects.exclude(customer=customer, tenant_id=TENANT).exclude(
                customer=other_customer, tenant_id=OTHER_TENANT
            )
            assert not others.exists(), (case, list(others.values_list("customer__name", "tenant_id")))
            wanted = expected if attempt == 0 else None
            assert bound == {"victim": wanted == "victim", "attacker": wanted == "attacker"}, (
                case,
                params,
                response.status_code,
                _alert(response),
            )
            if wanted:
                tally["bindings"] += 1
                assert response.status_code == 302
                AzureConnection.objects.all().delete()  # a replay must not bind it again
            tally["expected_bindings"] += bool(wanted)

    check()
    assert tally["expected_bindings"] > 0, "no example completed the flow: the oracle went untested"
    record(
        "consent_fuzzing",
        examples=tally["examples"],
        callbacks=tally["callbacks"],
        server_errors=tally["errors_500"],
        bindings=tally["bindings"],
        unexpected_bindings=0,
        seconds=clock.seconds,
    )


def _alert(response) -> str:
    """The refusal message of a consent page, for assertion messages."""
    text = response.content.decode(errors="replace")
    start = text.find('role="alert">')
    return text[start : start + 300] if start >= 0 else text[:300]


def _clock(expired: bool):
    shift = consent.STATE_LIFETIME_SECONDS + 1 if expired else 0
    real = time.time
    return lambda: real() + shift


def _params(case: Case, *, state: str, signin_state: str, other_state: str) -> list[tuple[str, str]]:
    values: dict[str, str | None] = {
        "admin_consent": case.admin_consent,
        "tenant": _tenant(case.tenant),
        "state": _state(case.state, state, signin_state, other_state),
    }
    if case.error is not None:
        values["error"] = case.error
    if case.error_description is not None:
        values["error_description"] = case.error_description
    params = [(key, value) for key, value in values.items() if value is not None]
    if case.duplicate and case.duplicate in values:
        params.append((case.duplicate, values[case.duplicate] or "x"))  # the same value again
        params.insert(0, (case.duplicate, "forged"))
    params.extend((key, value) for key, value in case.extra.items() if key not in values)
    return params


def _tenant(choice) -> str | None:
    if isinstance(choice, tuple):
        return choice[1]
    return {
        "same": TENANT,
        "upper": TENANT.upper(),
        "padded": f"  {TENANT} ",
        "other": OTHER_TENANT,
        "missing": None,
        "empty": "",
        "nul": TENANT + NUL,
        "rtl": RLO + TENANT,
        "zwsp": TENANT + ZWSP,
        "domain": "contoso.onmicrosoft.com",
        "organizations": "organizations",
        "common": "common",
        "not-a-guid": "not-a-guid",
    }[choice]


def _state(choice, state: str, signin_state: str, other_state: str) -> str | None:
    if isinstance(choice, tuple):
        return choice[1]
    return {
        "valid": state,
        "missing": None,
        "empty": "",
        "other session": other_state,
        "sign-in state": signin_state,
        "padded": f" {state} ",
        "upper": state.upper() if state.upper() != state else state + "X",
    }[choice]


def _binding(case: Case, params: list[tuple[str, str]], *, state: str, attacker_state: str) -> str | None:
    """Every check of SPEC.md section 4, restated: which flow may this callback complete?

    "victim": the customer admin's own flow (tenant TENANT); "attacker": the other
    customer's admin completing their own flow, for the tenant they signed in to.
    """
    keys = [key for key, _ in params]
    values = dict(params)
    valid = (
        not case.expired
        and not case.raw_bytes
        and len(keys) == len(set(keys))  # an ambiguous (repeated) parameter is refused
        and "error" not in values  # error first, even with admin_consent=True
        and values.get("admin_consent", "").lower() == "true"
    )
    tenant = values.get("tenant", "").strip().lower()  # must be the tid the admin signed in to
    if valid and case.sender == "same session" and values.get("state") == state and tenant == TENANT:
        return "victim"
    if (
        valid
        and case.sender == "attacker"
        and values.get("state") == attacker_state
        and tenant == OTHER_TENANT
    ):
        return "attacker"
    return None


def _query(params: list[tuple[str, str]], *, raw: bool) -> str:
    query = urlencode(params, quote_via=quote)
    if raw:
        # Bytes that are not UTF-8 and a lone percent sign: what a broken proxy might send.
        query += "&state=%FF%FE%00&tenant=%E2%80&x=%"
    return query


# -- the sign-in leg -------------------------------------------------------------------
signin_cases = st.fixed_dictionaries(
    {
        "state": st.one_of(st.sampled_from(["valid", "valid", "missing", "other"]), nasty_text),
        "code": st.one_of(st.sampled_from(["valid", "valid", "missing"]), nasty_text),
        "error": st.one_of(st.none(), st.none(), st.sampled_from(["access_denied", ""]), nasty_text),
        "client_info": st.one_of(st.none(), nasty_text),
        "session_state": st.one_of(st.none(), nasty_text),
        "duplicate": st.sampled_from([None, None, "state", "code"]),
    }
)


def test_fuzzed_sign_in_callbacks_never_fail_and_never_bind(customer, fuzz_world, microsoft):
    tally = {"examples": 0, "callbacks": 0, "consent_redirects": 0}
    clock = Stopwatch()

    @settings(
        max_examples=count(150),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=signin_cases)
    def check(case: dict) -> None:
        tally["examples"] += 1
        client = logged_in(fuzz_world["admin"])
        response = client.post(reverse("integrations:connect", args=[customer.pk]))
        query = {k: v[0] for k, v in parse_qs(urlparse(response["Location"]).query).items()}
        microsoft.nonce = query["nonce"]
        state = {"valid": query["state"], "missing": None, "other": "not-the-state"}.get(
            case["state"], case["state"]
        )
        code = {"valid": AUTH_CODE, "missing": None}.get(case["code"], case["code"])
        params = [
            (key, value)
            for key, value in (
                ("code", code),
                ("state", state),
                ("error", case["error"]),
                ("client_info", case["client_info"]),
                ("session_state", case["session_state"]),
            )
            if value is not None
        ]
        if case["duplicate"] and case["duplicate"] in dict(params):
            params.append((case["duplicate"], "forged"))
        response = client.get(f"{CALLBACK}?{urlencode(params, quote_via=quote)}")
        tally["callbacks"] += 1
        assert response.status_code < 500, (case, response.status_code)
        assert not AzureConnection.objects.exists()
        complete = (
            state == query["state"]
            and code == AUTH_CODE
            and case["error"] is None
            and case["duplicate"] is None
            and case["client_info"] is None
        )
        if response.status_code == 302:
            assert response["Location"] == reverse("integrations:confirm"), case
            tally["consent_redirects"] += 1
        if complete:
            assert response.status_code == 302, (case, response.content[:300])
        elif response.status_code == 302:
            # Only harmless noise may differ from the valid answer: an extra session_state.
            assert state == query["state"] and code == AUTH_CODE and case["duplicate"] is None, case

    check()
    assert tally["consent_redirects"] > 0
    record(
        "signin_fuzzing",
        examples=tally["examples"],
        callbacks=tally["callbacks"],
        server_errors=0,
        bindings=0,
        seconds=clock.seconds,
    )


# -- what the fuzzing found, pinned --------------------------------------------------
@pytest.mark.parametrize("state", [f"{RLO}abc", "é", "状態", NUL, "\U0001f680"])
def test_a_state_with_non_ascii_characters_is_refused_not_a_server_error(
    customer, fuzz_world, microsoft, state
):
    client = logged_in(fuzz_world["admin"])
    start_flow(client, customer, microsoft)

    for params in ({"state": state}, {"admin_consent": "True", "tenant": TENANT, "state": state}):
        response = client.get(CALLBACK, params)
        assert response.status_code == 400, (params, response.status_code)
    assert not AzureConnection.objects.exists()


@pytest.mark.parametrize("repeated", ["state", "tenant", "admin_consent", "error"])
def test_a_repeated_parameter_is_refused_whichever_copy_is_valid(customer, fuzz_world, microsoft, repeated):
    client = logged_in(fuzz_world["admin"])
    _, state = start_flow(client, customer, microsoft)
    valid = {"admin_consent": "True", "tenant": TENANT, "state": state}
    second = "&error=" if repeated == "error" else ""  # the valid copy last: what a "last one wins" reads

    response = client.get(f"{CALLBACK}?{repeated}=forged&{urlencode(valid)}{second}")

    assert response.status_code == 400
    assert "repeats a parameter" in _alert(response)
    assert not AzureConnection.objects.exists()


def test_an_empty_error_parameter_is_still_an_error(customer, fuzz_world, microsoft):
    client = logged_in(fuzz_world["admin"])
    _, state = start_flow(client, customer, microsoft)

    response = client.get(CALLBACK, {"error": "", "admin_consent": "True", "tenant": TENANT, "state": state})

    assert response.status_code == 400
    assert not AzureConnection.objects.exists()
