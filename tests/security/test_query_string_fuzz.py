"""No 5xx on any input: every URL pattern, as every role, with hostile and
random query strings (Hypothesis), on the database the suite runs on.

The URLs come from walking the URL resolver, so a new page is fuzzed without
anyone remembering to add it; a path parameter this file cannot fill fails
the test, so it gets a real id here.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.models import AzureConnection, DirectoryUser, FieldChange, SiteMapping, SyncRun
from portal.access.models import Invitation
from tests.conftest import make_user

# The catch-all of the admin (no name) answers 404/302 by design.
UNNAMED_OK = {"admin/(?P<url>.*)$"}
ROLES = ("anonymous", "member", "customer_admin", "other_admin", "staff", "staff_manage", "superuser")
KEYS = (
    "q", "contact", "field", "run", "since", "until", "page", "attribute", "next", "o", "p", "e",
    "all", "_popup", "_to_field", "_changelist_filters", "plan__exact", "status__exact",
    "customer__id__exact", "changed_at__gte", "changed_at__year", "code", "state", "error",
    "error_description", "admin_consent", "tenant", "session_state",
)  # fmt: skip
HOSTILE = (
    "¹", "²³", "٣", "99999999999999999999999999", "-1", "0", "1e309", "NaN", "Infinity", "0x10",
    "\x00", "a\x00b", "%00", "' OR 1=1 --", '"><script>alert(1)</script>', "../../etc/passwd",
    "2024-02-30", "9999-12-31", "0001-01-01", "10000-01-01", "", " ", "\u202e", "🙂" * 50,
    "x" * 5000, "=cmd|' /C calc'!A0", "//evil.example/", "https://evil.example/", "javascript:alert(1)",
    "-", "__proto__", "1,2,3", "[]", "{}", "\r\n", "\ud7ff", "\U0010ffff",
)  # fmt: skip
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
VALUES = st.one_of(st.sampled_from(HOSTILE), TEXT, st.integers().map(str))
QUERIES = st.lists(st.tuples(st.one_of(st.sampled_from(KEYS), TEXT), VALUES), max_size=6)


@pytest.fixture
def world(customer, other_customer, site, contact, customer_member, customer_admin, other_admin,
          staff_without_permission, staff_with_permission, superuser):  # fmt: skip
    """One connected customer with a run and an audited change: every path parameter has a real id."""
    connection = AzureConnection.objects.create(customer=customer, tenant_id="t-1", tenant_name="Contoso")
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=site)
    DirectoryUser.objects.create(
        connection=connection, object_id="u-1", mail=contact.email, office_location="Milan HQ"
    )
    run = SyncRun.objects.create(
        customer=customer, connection=connection, tenant_id="t-1", trigger="manual", status="succeeded"
    )
    FieldChange.objects.create(
        run=run, customer=customer, contact=contact, contact_email=contact.email,
        field="job_title", old_value="=1+1", new_value="+SUM(A1)",
    )  # fmt: skip
    holder = make_user("otp-holder", is_staff=True)  # devices for the otp admin pages, not a role
    TOTPDevice.objects.create(user=holder, name="app")
    StaticDevice.objects.create(user=holder, name="codes").token_set.create(token="abcd1234")
    users = {
        "member": customer_member, "customer_admin": customer_admin, "other_admin": other_admin,
        "staff": staff_without_permission, "staff_manage": staff_with_permission, "superuser": superuser,
    }  # fmt: skip
    clients = {"anonymous": Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    invitation = Invitation.objects.create(
        customer=customer, email="new.admin@contoso.com", invited_by=superuser
    )
    ids = {
        "customer_id": customer.pk, "site_id": site.pk, "run_id": run.pk, "id": superuser.pk,
        "invitation_id": invitation.pk, "action": "resend", "token": "not-a-token", "contact_id": contact.pk,
    }  # fmt: skip
    return {"clients": clients, "urls": every_url(ids, customer), "users": users}


def every_url(ids: dict[str, int], customer) -> list[str]:
    """One concrete URL per named pattern, its parameters filled with real ids."""
    models = {f"admin:{m._meta.app_label}_{m._meta.model_name}_": m for m in admin.site._registry}
    urls = []
    for route, name, params in _patterns(get_resolver().url_patterns, "", None):
        if not name and route.endswith("/<path:object_id>/"):  # the admin's old-style object URL
            _admin, app_label, model_name, _rest = route.split("/", 3)
            model = models[f"admin:{app_label}_{model_name}_"]
            urls.append(route.replace("<path:object_id>", str(_first_pk(model))))
            continue
        if not name:
            assert route in UNNAMED_OK, f"unnamed URL pattern {route!r}: give it a name or list it"
            continue
        kwargs = {}
        for param in params:
            if param in ids:
                kwargs[param] = ids[param]
            elif param == "object_id" and name == "admin:view_on_site":
                kwargs[param] = customer.pk
            elif param in ("object_id", "pk"):
                model = next(m for prefix, m in models.items() if name.startswith(prefix))
                kwargs[param] = _first_pk(model)
            elif param == "content_type_id":
                kwargs[param] = ContentType.objects.get_for_model(type(customer)).pk
            elif param == "app_label":
                kwargs[param] = "customers"
            else:
                raise AssertionError(f"no value for path parameter {param!r} of {name}")
        urls.append(reverse(name, kwargs=kwargs))
    return sorted({url if url.startswith("/") else "/" + url for url in urls})


def _first_pk(model) -> int:
    obj = model._default_manager.order_by("pk").first()
    return obj.pk if obj is not None else 1


def _patterns(patterns, prefix: str, namespace: str | None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            yield prefix + str(pattern.pattern), name, list(pattern.pattern.regex.groupindex)


def fetch(client: Client, url: str, query: list[tuple[str, str]]) -> int:
    """GET the URL; a streamed body (the CSV) is read to its end, where errors hide."""
    full = url + ("?" + urlencode(query) if query else "")
    try:
        with transaction.atomic():  # a database error must not poison the next example
            response = client.get(full)
            if response.streaming:
                b"".join(response.streaming_content)
            transaction.set_rollback(True)
    except Exception as exc:  # the test client re-raises the view's exception: name the URL
        raise AssertionError(f"GET {full[:300]} raised {exc!r}") from exc
    return response.status_code


def test_every_url_pattern_is_covered(world):
    urls = world["urls"]

    assert any("/audit.csv" in url for url in urls)
    assert any(url.startswith("/admin/customers/customer/") for url in urls)
    assert len(urls) > 100


def test_the_known_offenders_answer_without_an_error(world, customer):
    client = world["clients"]["customer_admin"]
    for url in (
        reverse("integrations:audit", args=[customer.pk]),
        reverse("integrations:audit_csv", args=[customer.pk]),
    ):
        for run in ("¹", "99999999999999999999999999", "\x00", "-5"):
            assert fetch(client, url, [("run", run)]) == 200, (url, run)


def test_every_url_as_every_role_with_hostile_values(world):
    """Deterministic sweep: each URL once per role, every known key set to a hostile value."""
    failures = []
    for index, url in enumerate(world["urls"]):
        for offset, role in enumerate(ROLES):
            query = [(key, HOSTILE[(index + offset + k) % len(HOSTILE)]) for k, key in enumerate(KEYS)]
            status = fetch(world["clients"][role], url, query)
            if status >= 500:
                failures.append((role, url, status))
    assert failures == []


def test_the_portal_pages_take_every_hostile_value_in_every_parameter(world):
    """Our own pages (not Django's admin) get each hostile value in every known key."""
    client = world["clients"]["customer_admin"]
    failures = []
    for url in portal_urls(world["urls"]):
        for value in HOSTILE:
            status = fetch(client, url, [(key, value) for key in KEYS])
            if status >= 500:
                failures.append((url, value, status))
    assert failures == []


def portal_urls(urls: list[str]) -> list[str]:
    return [url for url in urls if not url.startswith("/admin/")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_query_strings_never_give_a_server_error(world, data):
    # Half the draws on our own pages, where hand-written parsing lives.
    urls = st.one_of(st.sampled_from(portal_urls(world["urls"])), st.sampled_from(world["urls"]))
    url = data.draw(urls, label="url")
    role = data.draw(st.sampled_from(ROLES), label="role")
    query = data.draw(QUERIES, label="query")

    assert fetch(world["clients"][role], url, query) < 500
