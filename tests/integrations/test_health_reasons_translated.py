"""A connection's health reason reads in each reader's language, the values it names
(failures in a row, the last error) included: it is stored as a message id and its
values, never as a sentence in the language of whoever triggered the run."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation

from integrations import alerts
from integrations.graph.errors import ConsentRequiredError, TransientError
from integrations.models import AzureConnection, Health
from integrations.reasons import translated
from integrations.sync.runner import run_sync
from portal.customers.models import Membership
from tests.conftest import make_user
from tests.integrations.test_alerts import failing, queued_alerts
from tests.integrations.test_portal_pages import client_for, url

pytestmark = pytest.mark.django_db

ITALIAN = "it-IT,it;q=0.9"


@pytest.fixture
def admin_with_email(customer, settings):
    settings.OPS_EMAIL = "ops@msp.example"
    make_user("alice", customer=customer, role=Membership.Role.ADMIN, email="alice@contoso.com")


def fail(connection: AzureConnection, times: int = 1) -> AzureConnection:
    for _ in range(times):
        connection.refresh_from_db()
        run_sync(connection, trigger="scheduled", client_factory=failing(TransientError("timeout")))
    connection.refresh_from_db()
    return connection


def test_a_backing_off_reason_is_stored_as_its_message_id_and_its_values(mapped):
    connection = fail(mapped)

    assert connection.health == Health.BACKING_OFF
    assert "%(error)s" in connection.health_reason
    assert set(connection.health_reason_params) == {"error"}


def test_the_reason_reads_in_english_and_in_italian_with_its_values(mapped):
    connection = fail(mapped, times=6)
    assert connection.health == Health.QUARANTINED

    with translation.override("en"):
        english = connection.health_reason_text
    with translation.override("it"):
        italian = connection.health_reason_text

    assert english.startswith("6 syncs in a row failed")
    assert italian.startswith("6 sincronizzazioni di fila non sono riuscite")
    error = connection.health_reason_params["error"]
    assert error and error in english
    with translation.override("it"):
        assert translated(error) in italian  # the run's own error, in Italian when it has a translation


def test_the_integration_page_shows_the_reason_in_the_readers_language(mapped, customer_admin):
    fail(mapped)
    client = client_for(customer_admin)

    italian = client.get(url("manage", mapped.customer), HTTP_ACCEPT_LANGUAGE=ITALIAN).content.decode()
    english = client.get(url("manage", mapped.customer), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Non serve alcun intervento: il portale riprova automaticamente." in italian
    assert "Nobody needs to act: the portal retries automatically." not in italian
    assert "Nobody needs to act: the portal retries automatically." in english


def test_a_new_reason_never_keeps_the_values_of_the_previous_one(mapped, directory, sync):
    fail(mapped)
    sync(mapped)  # healthy again

    mapped.refresh_from_db()
    assert (mapped.health, mapped.health_reason, mapped.health_reason_params) == (Health.HEALTHY, "", {})


def test_the_quarantine_e_mail_puts_the_values_into_the_reason(
    connection, admin_with_email, django_capture_on_commit_callbacks
):
    for _ in range(6):
        connection.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            run_sync(connection, trigger="scheduled", client_factory=failing(TransientError("timeout")))

    assert queued_alerts() == ["admins", "ops"]
    body = mail.outbox[0].body
    assert "6 syncs in a row failed" in body and "%(" not in body


def test_a_stored_text_that_is_no_message_id_comes_back_as_it_is():
    assert translated("Microsoft said: throttled (429).") == "Microsoft said: throttled (429)."
    assert translated("") == ""
    assert translated("%(error)s and more", {"error": ""}) == " and more"
    assert translated("%(missing)s went wrong", {"error": "x"}) == "%(missing)s went wrong"


def test_the_admin_shows_the_reason_in_the_readers_language_and_does_not_offer_to_edit_it(
    mapped, admin_client
):
    fail(mapped)
    change = reverse("admin:integrations_azureconnection_change", args=[mapped.pk])

    page = admin_client.get(change, HTTP_ACCEPT_LANGUAGE=ITALIAN).content.decode()

    assert "Non serve alcun intervento" in page
    assert 'name="health_reason"' not in page


def test_the_alert_reason_is_put_together_in_the_e_mails_language(connection, admin_with_email):
    reason = "The last sync failed (%(error)s). Nobody needs to act: the portal retries automatically."
    payload = {
        "event": "changed",
        "customer_id": connection.customer_id,
        "tenant": "Contoso",
        "health": Health.BACKING_OFF,
        "reason": reason,
        "reason_params": {"error": "timeout"},
        "fix": "",
    }
    with mock.patch.object(alerts, "send_email", wraps=alerts.send_email) as send, translation.override("en"):
        alerts.deliver(payload, "admins")
    context = send.call_args.kwargs["context"]

    with translation.override("it"):
        assert str(context["reason"]).startswith("L'ultima sincronizzazione non è riuscita (timeout)")
    assert "Nobody needs to act" in mail.outbox[0].body


def test_alert_e_mails_are_plain_text_names_are_not_html_escaped(connection, admin_with_email):
    connection.customer.name = "O'Brien & Sons"
    connection.customer.save()
    payload = {
        "event": "changed",
        "customer_id": connection.customer_id,
        "tenant": "Contoso",
        "health": Health.QUARANTINED,
        "reason": "",
        "fix": "",
    }

    alerts.deliver(payload, "admins")

    message = mail.outbox[0]
    assert "O'Brien & Sons" in message.subject and "O'Brien & Sons" in message.body
    assert "&#x27;" not in message.subject + message.body and "&amp;" not in message.body


def test_the_alerts_fix_is_in_the_e_mails_language_not_in_the_language_it_was_queued_in(
    connection, admin_with_email, settings, django_capture_on_commit_callbacks
):
    # A run that ends in a request of an Italian reader queues the alert in Italian;
    # the e-mail is rendered in the portal's language, its fix line too.
    consent_revoked = failing(
        ConsentRequiredError("AADSTS7000229: consent revoked", code="AADSTS7000229", status=401)
    )
    with translation.override("it"), django_capture_on_commit_callbacks(execute=True):
        run_sync(connection, trigger="manual", client_factory=consent_revoked)

    settings.LANGUAGE_CODE = "en"
    queued_alerts()
    english = mail.outbox[0].body
    assert "reconnect with Import from Azure AD" in english
    assert "Importa da Azure AD" not in english

    connection.refresh_from_db()
    settings.LANGUAGE_CODE = "it"
    payload = alerts._payload(connection, "alert")
    alerts.deliver(payload, "admins")
    assert "di ricollegarsi con Importa da Azure AD" in mail.outbox[-1].body


def test_a_held_runs_alert_is_wholly_in_the_e_mails_language_when_queued_in_another(
    mapped, directory, admin_with_email, settings, django_capture_on_commit_callbacks
):
    from integrations.models import SyncRun
    from tests.integrations.safety_helpers import populate, sync_run

    ids = populate(directory, 200)
    with django_capture_on_commit_callbacks(execute=True):
        sync_run(mapped, directory, trigger=SyncRun.Trigger.INITIAL)
    queued_alerts()
    for user_id in ids[:80]:
        directory.update(user_id, jobTitle="Bulk HR title")
    with translation.override("it"), django_capture_on_commit_callbacks(execute=True):
        assert sync_run(mapped, directory).status == SyncRun.Status.HELD

    settings.LANGUAGE_CODE = "en"
    with translation.override("it"):  # the worker's language, whatever it is, is not the e-mail's
        queued_alerts()
    body = mail.outbox[0].body
    assert "Review the held changes on the run page" in body
    assert "a run is held for approval" in body
    assert "80 of 200 synced contacts" in body
