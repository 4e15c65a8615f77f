"""Item 5: the isolation matrix.

Every URL of the portal and every custom admin view and action, requested by
six kinds of visitor: an administrator of the customer (own), a plain member
of it, an administrator of another customer (other), MSP staff with the
integration permission (staff), staff without it (plain staff) and an
anonymous visitor. Each answers with the expected status; a refused request
changes nothing; and no response carries data the visitor may not see: the
other customer's data is planted with marker strings that must never appear,
in pages, filters, searches or the CSV export.

A completeness check fails when a URL is added without a row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from integrations.models import AzureConnection, DirectoryUser, FieldChange, SiteMapping, SyncRun
from portal.access.models import Invitation
from portal.access.tokens import make_token
from portal.activity.services import Kind
from portal.activity.services import record as record_activity
from portal.customers.models import Contact, Customer, Membership, Site
from tests.conftest import make_user
from tests.integrations.graph_helpers import OTHER_TENANT, TENANT
from tests.reliability.figures import record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("microsoft")]

ROLES = ("own", "member", "other", "staff", "plain_staff", "anonymous")
# What each customer's data is marked with: its portal data and its integration data.
A_PORTAL, A_ENTRA, B_PORTAL, B_ENTRA = "yyaportal", "yyaentra", "zzbportal", "zzbentra"


def expect(own, member, other, staff, plain_staff, anonymous) -> dict[str, int]:
    return dict(zip(ROLES, (own, member, other, staff, plain_staff, anonymous), strict=True))


VIEWER = expect(200, 200, 404, 200, 403, 302)  # integration pages every member may read
MANAGER_GET = expect(200, 403, 404, 200, 403, 302)
MANAGER_POST = expect(302, 403, 404, 302, 403, 302)
PORTAL = expect(200, 200, 404, 404, 404, 302)  # the customer portal: members only
FOREIGN_RUN = expect(404, 404, 404, 404, 403, 302)  # a run of B under A's URL
FOREIGN_RUN_ACTION = expect(404, 403, 404, 404, 403, 302)  # the same, for managers only
PUBLIC = expect(200, 200, 200, 200, 200, 200)
ADMIN_TOOL_GET = expect(302, 302, 302, 200, 403, 302)  # non-staff go to the admin login
ADMIN_TOOL_POST = expect(302, 302, 302, 302, 403, 302)
INTEGRATION_ADMIN = expect(302, 302, 302, 200, 403, 302)
INTEGRATION_ADMIN_NEVER = expect(302, 302, 302, 403, 403, 302)  # add/delete: read-only for everyone
CUSTOMER_ADMIN = expect(302, 302, 302, 200, 200, 302)
# Plain staff: the action is not offered; the list comes back with "No action selected".
ACTION = expect(302, 302, 302, 302, 200, 302)
# Inviting administrators in the portal: the customer's own administrators only.
INVITER_GET = expect(200, 403, 404, 404, 404, 302)
INVITER_POST = expect(302, 403, 404, 404, 404, 302)


@dataclass
class World:
    a: Customer
    b: Customer
    a_site: Site
    b_site: Site
    a_connection: AzureConnection
    b_connection: AzureConnection
    a_run: SyncRun
    b_run: SyncRun
    users: dict = field(default_factory=dict)
    a_invitation: Invitation | None = None
    b_invitation: Invitation | None = None


@dataclass(frozen=True)
class Row:
    key: str
    url_name: str
    method: str
    path: Callable[[World], str]
    expected: dict[str, int]
    data: Callable[[World], dict] = lambda world: {}
    # Visitors who may change something with this request (everyone else must change nothing).
    may_change: tuple[str, ...] = ()
    # "A": scoped to customer A (even staff see nothing of B); "all": a staff-wide admin list.
    scope: str = "A"


def url(name: str, *args) -> Callable[[World], str]:
    def build(world: World) -> str:
        return reverse(name, args=[arg(world) if callable(arg) else arg for arg in args])

    return build


def a_id(world: World) -> int:
    return world.a.pk


def query(name: str, text: str, *args) -> Callable[[World], str]:
    base = url(name, *args)
    return lambda world: f"{base(world)}?{text.format(world=world)}"


def action(name: str, target: Callable[[World], object], **extra) -> Callable[[World], dict]:
    return lambda world: {"action": name, "_selected_action": [target(world).pk], "index": "0", **extra}


MAPPING_PREVIEW = lambda world: {  # noqa: E731
    "action": "preview",
    "attribute": "officeLocation",
    "rows": "1",
    "value-0": "Yyaentra Office",
    "target-0": str(world.a_site.pk),
}
MAPPING_TO_B = lambda world: {  # noqa: E731
    "action": "save",
    "attribute": "officeLocation",
    "rows": "1",
    "value-0": "Yyaentra Office",
    "target-0": str(world.b_site.pk),
}
MANAGERS = ("own", "staff")
CHANGELIST = "admin:customers_customer_changelist"
CONNECTIONS = "admin:integrations_azureconnection_changelist"
RUNS = "admin:integrations_syncrun_changelist"

MATRIX = [
    # -- public -----------------------------------------------------------------------
    Row("login", "login", "get", url("login"), PUBLIC),
    Row("logout", "logout", "post", url("logout"), expect(302, 302, 302, 302, 302, 302)),
    Row("healthz", "healthz", "get", url("healthz"), PUBLIC),
    Row("readyz", "readyz", "get", url("readyz"), PUBLIC),
    # The language switch (Django's set_language): a cookie for anyone, no data, no database
    # change; back to the page it was used on (here the login page, where anonymous visitors use it).
    Row(
        "language switch",
        "set_language",
        "post",
        url("set_language"),
        expect(302, 302, 302, 302, 302, 302),
        data=lambda world: {"language": "it", "next": reverse("login")},
    ),
    # Enrolment is for staff and customer admins; plain members have no page.
    Row("two_factor", "two_factor", "get", url("two_factor"), expect(200, 404, 200, 200, 200, 302)),
    # -- the customer portal ----------------------------------------------------------
    Row("home", "portal:home", "get", url("portal:home"), expect(200, 200, 200, 200, 200, 302)),
    Row("customer", "portal:customer", "get", url("portal:customer", a_id), PORTAL),
    Row("site", "portal:site", "get", lambda w: reverse("portal:site", args=[w.a.pk, w.a_site.pk]), PORTAL),
    Row(
        "site search for B",
        "portal:site",
        "get",
        lambda w: reverse("portal:site", args=[w.a.pk, w.a_site.pk]) + f"?q={B_PORTAL}",
        PORTAL,
    ),
    Row(
        "B's site under A",
        "portal:site",
        "get",
        lambda w: reverse("portal:site", args=[w.a.pk, w.b_site.pk]),
        expect(404, 404, 404, 404, 404, 302),
    ),
    Row(
        "contact",
        "portal:contact",
        "get",
        lambda w: reverse("portal:contact", args=[w.a.pk, w.a.contacts.get().pk]),
        PORTAL,
    ),
    Row(
        "B's contact under A",
        "portal:contact",
        "get",
        lambda w: reverse("portal:contact", args=[w.a.pk, w.b.contacts.get().pk]),
        expect(404, 404, 404, 404, 404, 302),
    ),
    # -- the integration's pages ------------------------------------------------------
    Row("connect", "integrations:connect", "post", url("integrations:connect", a_id), MANAGER_POST),
    Row(
        "callback",
        "integrations:callback",
        "get",
        url("integrations:callback"),
        # Anonymous: 401, not a login redirect whose ?next= would carry the sign-in code.
        expect(400, 400, 400, 400, 400, 401),
    ),
    # Nobody has a sign-in waiting here: nothing to show, and a forged Confirm or Cancel
    # naming customer A is refused (400) or hidden (403/404) before anything is issued.
    Row(
        "confirm page",
        "integrations:confirm",
        "get",
        url("integrations:confirm"),
        expect(404, 404, 404, 404, 404, 302),
    ),
    Row(
        "confirm",
        "integrations:confirm",
        "post",
        url("integrations:confirm"),
        expect(400, 403, 404, 400, 403, 302),
        data=lambda world: {"flow": "x", "customer": world.a.pk, "tenant": world.a_connection.tenant_id},
    ),
    Row(
        "confirm cancel",
        "integrations:confirm_cancel",
        "post",
        url("integrations:confirm_cancel"),
        expect(400, 400, 400, 400, 400, 302),
        data=lambda world: {"flow": "x", "customer": world.a.pk, "tenant": world.a_connection.tenant_id},
    ),
    Row("manage", "integrations:manage", "get", url("integrations:manage", a_id), VIEWER),
    Row(
        "sync now",
        "integrations:sync_now",
        "post",
        url("integrations:sync_now", a_id),
        MANAGER_POST,
        may_change=MANAGERS,
    ),
    Row(
        "disconnect page", "integrations:disconnect", "get", url("integrations:disconnect", a_id), MANAGER_GET
    ),
    Row(
        "disconnect",
        "integrations:disconnect",
        "post",
        url("integrations:disconnect", a_id),
        MANAGER_POST,
        may_change=MANAGERS,
    ),
    Row("mapping", "integrations:mapping", "get", url("integrations:mapping", a_id), MANAGER_GET),
    Row(
        "mapping preview",
        "integrations:mapping",
        "post",
        url("integrations:mapping", a_id),
        MANAGER_GET,
        data=MAPPING_PREVIEW,
    ),
    Row(
        "mapping to B's site",
        "integrations:mapping",
        "post",
        url("integrations:mapping", a_id),
        MANAGER_POST,
        data=MAPPING_TO_B,
    ),
    Row(
        "contact pins",
        "integrations:contact_pins",
        "get",
        lambda w: reverse("integrations:contact_pins", args=[w.a.pk, w.a.contacts.first().pk]),
        MANAGER_GET,
    ),
    Row("policies", "integrations:policies", "get", url("integrations:policies", a_id), MANAGER_GET),
    Row(
        "policies preview",
        "integrations:policies",
        "post",
        url("integrations:policies", a_id),
        MANAGER_GET,
        data=lambda world: {"action": "preview", "leavers": "deactivate", "identity": "email"},
    ),
    Row(
        "policies save",
        "integrations:policies",
        "post",
        url("integrations:policies", a_id),
        MANAGER_POST,
        data=lambda world: {"action": "save", "leavers": "deactivate", "identity": "email"},
        may_change=MANAGERS,
    ),
    Row(
        "run",
        "integrations:run",
        "get",
        lambda w: reverse("integrations:run", args=[w.a.pk, w.a_run.pk]),
        VIEWER,
    ),
    Row(
        "B's run under A",
        "integrations:run",
        "get",
        lambda w: reverse("integrations:run", args=[w.a.pk, w.b_run.pk]),
        FOREIGN_RUN,
    ),
    Row(
        "run progress",
        "integrations:run_progress",
        "get",
        lambda w: reverse("integrations:run_progress", args=[w.a.pk, w.a_run.pk]),
        VIEWER,
    ),
    Row(
        "B's run progress under A",
        "integrations:run_progress",
        "get",
        lambda w: reverse("integrations:run_progress", args=[w.a.pk, w.b_run.pk]),
        FOREIGN_RUN,
    ),
    # -- the safety net (section 6.1): A's run is finished, not held ----------------------
    *[
        Row(
            f"{verb} a run that is not held",
            f"integrations:run_{verb}",
            "post",
            (lambda v: lambda w: reverse(f"integrations:run_{v}", args=[w.a.pk, w.a_run.pk]))(verb),
            MANAGER_POST,
        )
        for verb in ("approve", "reject")
    ],
    *[
        Row(
            f"{verb} B's run under A",
            f"integrations:run_{verb}",
            "post",
            (lambda v: lambda w: reverse(f"integrations:run_{v}", args=[w.a.pk, w.b_run.pk]))(verb),
            FOREIGN_RUN_ACTION,
        )
        for verb in ("approve", "reject", "undo")
    ],
    Row(
        "undo page",
        "integrations:run_undo",
        "get",
        lambda w: reverse("integrations:run_undo", args=[w.a.pk, w.a_run.pk]),
        MANAGER_GET,
    ),
    Row(
        "undo",
        "integrations:run_undo",
        "post",
        lambda w: reverse("integrations:run_undo", args=[w.a.pk, w.a_run.pk]),
        MANAGER_POST,
        may_change=MANAGERS,
    ),
    Row("pause", "integrations:pause", "post", url("integrations:pause", a_id), MANAGER_POST),
    Row("resume", "integrations:resume", "post", url("integrations:resume", a_id), MANAGER_POST),
    Row("run history", "integrations:runs", "get", url("integrations:runs", a_id), VIEWER),
    Row("audit", "integrations:audit", "get", url("integrations:audit", a_id), VIEWER),
    Row(
        "audit filtered by B's run",
        "integrations:audit",
        "get",
        query("integrations:audit", "run={world.b_run.pk}", a_id),
        VIEWER,
    ),
    Row(
        "audit searched for B",
        "integrations:audit",
        "get",
        query("integrations:audit", f"q={B_ENTRA}", a_id),
        VIEWER,
    ),
    Row(
        "audit for B's contact",
        "integrations:audit",
        "get",
        query("integrations:audit", f"contact=zed.{B_PORTAL}@bravo.example", a_id),
        VIEWER,
    ),
    Row("CSV export", "integrations:audit_csv", "get", url("integrations:audit_csv", a_id), VIEWER),
    Row(
        "CSV export of B's run",
        "integrations:audit_csv",
        "get",
        query("integrations:audit_csv", "run={world.b_run.pk}", a_id),
        VIEWER,
    ),
    Row(
        "CSV export searched for B",
        "integrations:audit_csv",
        "get",
        query("integrations:audit_csv", f"q={B_ENTRA}", a_id),
        VIEWER,
    ),
    # -- custom admin views -----------------------------------------------------------
    Row(
        "admin import page",
        "admin:customers_customer_azure_import",
        "get",
        url("admin:customers_customer_azure_import", a_id),
        ADMIN_TOOL_GET,
    ),
    Row(
        "admin sync now",
        "admin:customers_customer_azure_sync",
        "post",
        url("admin:customers_customer_azure_sync", a_id),
        ADMIN_TOOL_POST,
        may_change=("staff",),
    ),
    Row(
        "admin disconnect page",
        "admin:customers_customer_azure_disconnect",
        "get",
        url("admin:customers_customer_azure_disconnect", a_id),
        ADMIN_TOOL_GET,
    ),
    Row(
        "admin disconnect",
        "admin:customers_customer_azure_disconnect",
        "post",
        url("admin:customers_customer_azure_disconnect", a_id),
        ADMIN_TOOL_POST,
        data=lambda w: {"post": "yes"},
        may_change=("staff",),
    ),
    Row(
        "admin customer page",
        "admin:customers_customer_change",
        "get",
        url("admin:customers_customer_change", a_id),
        CUSTOMER_ADMIN,
        scope="admin",
    ),
    # -- admin actions ----------------------------------------------------------------
    Row(
        "action: import",
        CHANGELIST,
        "post",
        url(CHANGELIST),
        ACTION,
        data=action("azure_import", lambda w: w.a),
        scope="admin",
    ),
    Row(
        "action: sync now",
        CHANGELIST,
        "post",
        url(CHANGELIST),
        ACTION,
        data=action("azure_sync_now", lambda w: w.a),
        may_change=("staff",),
        scope="admin",
    ),
    Row(
        "action: disconnect (confirmation)",
        CHANGELIST,
        "post",
        url(CHANGELIST),
        expect(302, 302, 302, 200, 200, 302),
        data=action("azure_disconnect", lambda w: w.a),
        scope="admin",
    ),
    Row(
        "action: disconnect (confirmed)",
        CHANGELIST,
        "post",
        url(CHANGELIST),
        ACTION,
        data=lambda w: {"action": "azure_disconnect", "_selected_action": [w.a.pk], "post": "yes"},
        may_change=("staff",),
        scope="admin",
    ),
    Row(
        "connection action: sync now",
        CONNECTIONS,
        "post",
        url(CONNECTIONS),
        expect(302, 302, 302, 302, 403, 302),
        data=action("sync_now", lambda w: w.a_connection),
        may_change=("staff",),
        scope="all",
    ),
    Row(
        "connection action: disconnect (confirmed)",
        CONNECTIONS,
        "post",
        url(CONNECTIONS),
        expect(302, 302, 302, 302, 403, 302),
        data=lambda w: {"action": "disconnect", "_selected_action": [w.a_connection.pk], "post": "yes"},
        may_change=("staff",),
        scope="all",
    ),
    *[
        Row(
            f"run action: {name} (confirmed)",
            RUNS,
            "post",
            url(RUNS),
            expect(302, 302, 302, 302, 403, 302),
            data=(lambda n: lambda w: {"action": n, "_selected_action": [w.a_run.pk], "post": "yes"})(name),
            may_change=("staff",),
            scope="all",
        )
        for name in ("approve_held", "reject_held", "undo_runs")
    ],
    *[
        Row(
            f"connection action: {name}",
            CONNECTIONS,
            "post",
            url(CONNECTIONS),
            expect(302, 302, 302, 302, 403, 302),
            data=action(name, lambda w: w.a_connection),
            may_change=("staff",),
            scope="all",
        )
        for name in ("pause_connections", "resume_connections")
    ],
    # -- the integration's admin pages ------------------------------------------------
    *[
        Row(f"admin {model} {view}", f"admin:integrations_{model}_{view}", "get", path, expected, scope=scope)
        for model, obj in (
            ("azureconnection", lambda w: w.a_connection),
            ("syncrun", lambda w: w.a_run),
            ("fieldchange", lambda w: FieldChange.objects.filter(customer=w.a).first()),
        )
        for view, path, expected, scope in (
            ("changelist", url(f"admin:integrations_{model}_changelist"), INTEGRATION_ADMIN, "all"),
            (
                "change",
                (lambda m, o: lambda w: reverse(f"admin:integrations_{m}_change", args=[o(w).pk]))(
                    model, obj
                ),
                INTEGRATION_ADMIN,
                "A",
            ),
            (
                "history",
                (lambda m, o: lambda w: reverse(f"admin:integrations_{m}_history", args=[o(w).pk]))(
                    model, obj
                ),
                INTEGRATION_ADMIN,
                "A",
            ),
            ("add", url(f"admin:integrations_{model}_add"), INTEGRATION_ADMIN_NEVER, "all"),
            (
                "delete",
                (lambda m, o: lambda w: reverse(f"admin:integrations_{m}_delete", args=[o(w).pk]))(
                    model, obj
                ),
                INTEGRATION_ADMIN_NEVER,
                "A",
            ),
        )
    ],
    Row(
        "admin audit filtered to A",
        "admin:integrations_fieldchange_changelist",
        "get",
        query("admin:integrations_fieldchange_changelist", "customer__id__exact={world.a.pk}"),
        INTEGRATION_ADMIN,
    ),
    Row(
        "admin runs filtered to A",
        "admin:integrations_syncrun_changelist",
        "get",
        query("admin:integrations_syncrun_changelist", "customer__id__exact={world.a.pk}"),
        INTEGRATION_ADMIN,
    ),
    Row(
        "admin connections searched for A",
        "admin:integrations_azureconnection_changelist",
        "get",
        query("admin:integrations_azureconnection_changelist", "q=Alpha"),
        INTEGRATION_ADMIN,
    ),
    Row(
        "admin health page",
        "admin:integrations_health",
        "get",
        url("admin:integrations_health"),
        INTEGRATION_ADMIN,
        scope="all",
    ),
    Row(
        "admin activity CSV",
        "admin:activity_activity_csv",
        "get",
        url("admin:activity_activity_csv"),
        expect(302, 302, 302, 403, 403, 302),
        scope="all",
    ),
    # -- invitations and the activity log (portal) ---------------------------------------
    Row("invitations", "access:invitations", "get", url("access:invitations", a_id), INVITER_GET),
    Row(
        "invite",
        "access:invitations",
        "post",
        url("access:invitations", a_id),
        INVITER_POST,
        data=lambda w: {"email": "newadmin@alpha.example"},
        may_change=("own",),
    ),
    Row(
        "revoke an invitation",
        "access:invitation_action",
        "post",
        lambda w: reverse("access:invitation_action", args=[w.a.pk, w.a_invitation.pk, "revoke"]),
        INVITER_POST,
        may_change=("own",),
    ),
    Row(
        "B's invitation under A",
        "access:invitation_action",
        "post",
        lambda w: reverse("access:invitation_action", args=[w.a.pk, w.b_invitation.pk, "revoke"]),
        expect(404, 403, 404, 404, 404, 302),
    ),
    Row(
        "accept with a garbage token",
        "access:accept",
        "get",
        lambda w: reverse("access:accept", args=[w.a.pk, "not-a-token"]),
        expect(400, 400, 400, 400, 400, 400),
    ),
    Row(
        "accept B's invitation under A",
        "access:accept",
        "post",
        lambda w: reverse("access:accept", args=[w.a.pk, make_token(w.b_invitation)]),
        expect(400, 400, 400, 400, 400, 400),
        data=lambda w: {"username": "intruder", "password1": "Xx-long-pass-9", "password2": "Xx-long-pass-9"},
    ),
    Row("activity log", "activity:log", "get", url("activity:log", a_id), MANAGER_GET),
    Row(
        "activity log searched for B",
        "activity:log",
        "get",
        query("activity:log", f"q={B_PORTAL}", a_id),
        MANAGER_GET,
    ),
    Row("activity CSV", "activity:csv", "get", url("activity:csv", a_id), MANAGER_GET),
]
MATRIX_BY_KEY = {row.key: row for row in MATRIX}
assert len(MATRIX_BY_KEY) == len(MATRIX), "duplicate row keys"


@pytest.fixture
def world(db) -> World:
    a = Customer.objects.create(name="Alpha", plan="enterprise")
    b = Customer.objects.create(name="Bravo", plan="enterprise")
    built = {}
    for customer, portal, entra, tenant, local in (
        (a, A_PORTAL, A_ENTRA, TENANT, "ana"),
        (b, B_PORTAL, B_ENTRA, OTHER_TENANT, "zed"),
    ):
        site = Site.objects.create(customer=customer, name=f"{portal.capitalize()} HQ")
        contact = Contact.objects.create(
            customer=customer,
            site=site,
            email=f"{local}.{portal}@{customer.name.lower()}.example",
            first_name=f"{portal.capitalize()}first",
            job_title=f"{portal} title",
        )
        connection = AzureConnection.objects.create(
            customer=customer, tenant_id=tenant, tenant_name=f"{entra.capitalize()} Tenant"
        )
        SiteMapping.objects.create(connection=connection, value=f"{entra.capitalize()} Office", site=site)
        DirectoryUser.objects.create(
            connection=connection,
            object_id=f"{tenant[:30]}000001",
            mail=contact.email,
            given_name=f"{entra}given",
            office_location=f"{entra.capitalize()} Office",
        )
        run = SyncRun.objects.create(
            customer=customer,
            connection=connection,
            tenant_id=tenant,
            trigger="manual",
            status="failed" if customer == b else "succeeded",
            error=f"{entra} error" if customer == b else "",
            warnings=[f"{entra} warning"],
        )
        FieldChange.objects.create(
            run=run,
            customer=customer,
            contact=contact,
            contact_email=contact.email,
            field="job_title",
            old_value=f"{entra} old",
            new_value=f"{entra} new",
        )
        built[customer.pk] = (site, connection, run)
        record_activity(Kind.SYNC_REQUESTED, actor=None, customer=customer, target=f"{portal} activity")
    staff = make_user("tech", is_staff=True)
    plain = make_user("intern", is_staff=True)
    customer_perms = Permission.objects.filter(
        codename__in=["view_customer", "change_customer", "view_site", "change_site"]
    )
    staff.user_permissions.add(*customer_perms, Permission.objects.get(codename="manage_azure"))
    plain.user_permissions.add(*customer_perms)
    return World(
        a=a,
        b=b,
        a_site=built[a.pk][0],
        b_site=built[b.pk][0],
        a_connection=built[a.pk][1],
        b_connection=built[b.pk][1],
        a_run=built[a.pk][2],
        b_run=built[b.pk][2],
        a_invitation=Invitation.objects.create(customer=a, email=f"invitee.{A_PORTAL}@alpha.example"),
        b_invitation=Invitation.objects.create(customer=b, email=f"invitee.{B_PORTAL}@bravo.example"),
        users={
            "own": make_user("alice", customer=a, role=Membership.Role.ADMIN),
            "member": make_user("bob", customer=a, role=Membership.Role.MEMBER),
            "other": make_user("mallory", customer=b, role=Membership.Role.ADMIN),
            "staff": staff,
            "plain_staff": plain,
            "anonymous": None,
        },
    )


def forbidden_markers(role: str, scope: str, world: World) -> list[str]:
    """Strings the response must not contain, for this visitor on this kind of page."""
    a_entra, b_entra = [A_ENTRA, TENANT], [B_ENTRA, OTHER_TENANT]
    if role in ("own", "member"):
        return [B_PORTAL, *b_entra]
    if role == "other":
        return [A_PORTAL, *a_entra]
    if role == "plain_staff":
        return [*a_entra, *b_entra]
    if role == "staff":
        return [] if scope in ("all", "admin") else [B_PORTAL, *b_entra]
    return [A_PORTAL, B_PORTAL, *a_entra, *b_entra]


def state_of_everything() -> tuple:
    return (
        list(SyncRun.objects.order_by("pk").values_list("pk", "status")),
        list(AzureConnection.objects.order_by("pk").values_list("pk", "tenant_id")),
        list(SiteMapping.objects.order_by("pk").values_list("pk", "site_id", "value")),
        Site.objects.count(),
        Contact.objects.count(),
        FieldChange.objects.count(),
    )


def _without_echo(body: str, path: str) -> str:
    """The body without what the visitor typed: a search box shows its own query."""
    for values in parse_qs(urlsplit(path).query).values():
        for value in values:
            for echo in (escape(value), quote(value, safe=""), quote(value), value):
                body = body.replace(echo, "")
    return body


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", errors="replace")
    return response.content.decode("utf-8", errors="replace")


@pytest.mark.parametrize("key", list(MATRIX_BY_KEY))
def test_every_visitor_gets_the_expected_answer_and_nothing_of_another_customer(key, world):
    row = MATRIX_BY_KEY[key]
    checked = 0
    for role in ROLES:
        user = world.users[role]
        client = Client()
        if user is not None:
            client.force_login(user)
        before = state_of_everything()
        path = row.path(world)
        with transaction.atomic():
            response = getattr(client, row.method)(path, row.data(world))
            body = body_of(response)
            after = state_of_everything()
            transaction.set_rollback(True)
        assert response.status_code == row.expected[role], (key, role, response.status_code, body[:300])
        if row.expected[role] == 302 and (
            user is None or (role in ("own", "member", "other") and "admin" in row.url_name)
        ):
            assert "/login/" in response["Location"], (key, role, response["Location"])
        if role not in row.may_change:
            assert after == before, (key, role, "a refused request changed something")
        body = _without_echo(body, path)
        for marker in forbidden_markers(role, row.scope, world):
            assert marker.lower() not in body.lower(), (key, role, marker)
        checked += 1
    assert checked == len(ROLES)


def test_the_matrix_names_every_url_of_the_portal_and_every_custom_admin_view():
    named = {row.url_name for row in MATRIX}
    missing = []
    for name in _url_names(get_resolver().url_patterns):
        custom_admin = name.startswith("admin:") and (
            "azure" in name or name.startswith("admin:integrations_")
        )
        if (not name.startswith("admin:") or custom_admin) and name not in named:
            missing.append(name)
    assert not missing, f"add these URLs to the isolation matrix: {missing}"
    record("isolation_matrix", urls=len(named), rows=len(MATRIX), requests=len(MATRIX) * len(ROLES), leaks=0)


def _url_names(patterns, namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}{pattern.name}"
