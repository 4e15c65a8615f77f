"""The policy page of a connection (design.md §6.2): leavers, identity, scope, fields the
portal owns and the brake, each change previewed (the plan with the unsaved policy)
before it is saved and recorded with its author."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from integrations import policy_selectors
from integrations.models import Identity, Leavers
from integrations.services import policies
from integrations.services.policies import Policy, PolicyError
from integrations.sync.plan import SYNCED_FIELDS
from integrations.views.common import connection_for, customer_for
from portal.customers.models import ContactPin
from portal.users import signed_in_user

MAX_GROUP_TEXT = 2000
FIELD_LABELS = dict(ContactPin.FIELDS)


@login_required
@require_http_methods(["GET", "POST"])
def policy_page(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_for(request, customer_id, manage=True)
    connection = connection_for(customer)
    current = policies.policy_of(connection)
    proposed, preview, error, unread = current, None, None, []
    if request.method == "POST":
        try:
            proposed = _policy_from(request, current)
        except PolicyError as exc:
            error = str(exc)
        else:
            if request.POST.get("action") == "save":
                changes = policies.policy_save(
                    connection=connection, policy=proposed, actor=signed_in_user(request)
                )
                if not changes:
                    messages.info(request, _("The policies were already like this."))
                else:
                    messages.success(
                        request,
                        _("Policies saved. They apply from the next sync (Sync now to apply them at once)."),
                    )
                return redirect("integrations:policies", customer_id=customer.pk)
            unread = policy_selectors.unread_scope_groups(connection=connection, policy=proposed)
            preview = policy_selectors.policy_preview(connection=connection, policy=proposed)
    context = {
        "customer": customer,
        "connection": connection,
        "policy": proposed,
        "saved": current,
        "changed": proposed != current,
        "leavers_choices": Leavers.choices,
        "identity_choices": Identity.choices,
        "ownable": [(name, FIELD_LABELS.get(name, name)) for name in SYNCED_FIELDS],
        "groups_text": "\n".join(proposed.scope_groups),
        "preview": preview,
        "error": error,
        "unread_groups": unread,
        "needs_group_consent": policies.needs_group_consent(proposed),
        "described": policies.describe(current),
    }
    return render(request, "integrations/policies.html", context, status=400 if error else 200)


def _policy_from(request: HttpRequest, current: Policy) -> Policy:
    """The submitted form as a Policy; a bad value is a PolicyError (nothing saved)."""
    data = request.POST
    brake = data.get("brake_percent", "").strip()
    if brake and not brake.isdigit():
        raise PolicyError(_("The brake must be a percentage between 1 and 100."))
    groups_text = data.get("scope_groups", "")[:MAX_GROUP_TEXT]
    groups = [part for part in groups_text.replace(",", "\n").split() if part]
    policy = policies.policy_with(
        current,
        leavers=data.get("leavers", current.leavers),
        identity=data.get("identity", current.identity),
        scope_groups=groups,
        licensed_only=data.get("licensed_only") == "on",
        portal_owned_fields=data.getlist("portal_owned_fields"),
        brake_percent=int(brake) if brake else None,
    )
    if not brake:  # an empty box: back to the global default
        policy = replace(policy, brake_percent=None)
    return policy
