"""The key pages speak the browser's language (Accept-Language) or the one
chosen with the language switch (SPEC.md section 7); English stays the default."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    translation.activate("en")


def portal_pages(customer, site, run) -> dict[str, str]:
    return {
        "home": reverse("portal:home"),
        "customer": reverse("portal:customer", args=[customer.pk]),
        "site": reverse("portal:site", args=[customer.pk, site.pk]),
        "management": reverse("integrations:manage", args=[customer.pk]),
        "mapping": reverse("integrations:mapping", args=[customer.pk]),
        "run": reverse("integrations:run", args=[customer.pk, run.pk]),
        "audit": reverse("integrations:audit", args=[customer.pk]),
    }


# One phrase per page that only the Italian catalogue can produce, and its English original.
EXPECTED = {
    "home": ("I tuoi clienti", "Your customers"),
    "customer": ("Gestisci integrazione Azure AD", "Manage Azure AD integration"),
    "site": ("Cerca nome, email o qualifica", "Search name, email or title"),
    "management": ("Esecuzioni recenti", "Recent runs"),
    "mapping": ("Mappa Microsoft Entra ID sulle tue sedi", "Map Microsoft Entra ID to your sites"),
    "run": ("Letti da Microsoft Entra ID", "Read from Microsoft Entra ID"),
    "audit": ("Registro di audit", "Audit log"),
}


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_each_key_page_is_italian_when_the_browser_asks_for_italian(
    client, customer_admin, customer, site, synced, page
):
    client.force_login(customer_admin)
    url = portal_pages(customer, site, synced)[page]
    italian, english = EXPECTED[page]

    response = client.get(url, HTTP_ACCEPT_LANGUAGE="it-IT,it;q=0.9,en;q=0.5")

    assert response.status_code == 200
    html = response.content.decode()
    assert italian in html
    assert english not in html
    assert '<html lang="it">' in html
    assert response["Content-Language"] == "it"


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_each_key_page_is_english_by_default(client, customer_admin, customer, site, synced, page):
    client.force_login(customer_admin)
    url = portal_pages(customer, site, synced)[page]

    html = client.get(url).content.decode()

    assert EXPECTED[page][1] in html
    assert EXPECTED[page][0] not in html
    assert '<html lang="en">' in html


def test_the_language_switch_overrides_the_browser_and_sticks(client, customer_admin, customer):
    client.force_login(customer_admin)
    home = reverse("portal:home")
    page = client.get(home, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    # The switch is a POST form with the CSRF token, one button per language.
    assert f'action="{reverse("set_language")}"' in page
    assert 'name="language" value="it"' in page

    response = client.post(
        reverse("set_language"), {"language": "it", "next": home}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 302 and response["Location"] == home
    html = client.get(home, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "I tuoi clienti" in html
    # ...and back to English the same way.
    client.post(reverse("set_language"), {"language": "en", "next": home})
    assert "Your customers" in client.get(home, HTTP_ACCEPT_LANGUAGE="it").content.decode()


def test_the_language_switch_refuses_a_forged_post_without_csrf(customer_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer_admin)

    response = client.post(reverse("set_language"), {"language": "it", "next": "/"})

    assert response.status_code == 403


def test_the_language_switch_ignores_an_unknown_language_and_a_foreign_next(client, customer_admin):
    client.force_login(customer_admin)

    response = client.post(reverse("set_language"), {"language": "xx", "next": "https://evil.example/"})

    # Django's set_language: no redirect off-site, no unknown language stored.
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")
    assert "Your customers" in client.get(reverse("portal:home")).content.decode()


def test_messages_from_views_are_in_the_readers_language(client, customer_admin, customer, synced):
    client.force_login(customer_admin)

    response = client.post(
        reverse("integrations:sync_now", args=[customer.pk]), HTTP_ACCEPT_LANGUAGE="it", follow=True
    )

    html = response.content.decode()
    assert "Sincronizzazione avviata. I contatti si aggiornano appena termina." in html
    assert "In coda" in html  # the run's status label


def test_the_login_page_is_italian(client):
    html = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="it").content.decode()

    assert "Nome utente" in html and "Accedi" in html


@pytest.mark.parametrize(
    ("url_name", "italian"),
    [
        ("admin:index", "Integrazione Microsoft Entra ID"),  # our app's verbose name, beside Django's
        ("admin:customers_customer_changelist", "Sincronizza ora con Microsoft Entra ID"),  # an action
        ("admin:integrations_syncrun_changelist", "Riuscita"),  # a status choice
        ("admin:integrations_fieldchange_changelist", "Qualifica"),  # a field label
    ],
)
def test_admin_pages_are_italian(client, staff_with_permission, synced, url_name, italian):
    client.force_login(staff_with_permission)
    staff_with_permission.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=["customers", "integrations"], codename__startswith="view_"
        )
    )

    html = client.get(reverse(url_name), HTTP_ACCEPT_LANGUAGE="it").content.decode()

    assert italian in html
    # The admin has the same language switch, in the user links.
    assert f'action="{reverse("set_language")}"' in html


def test_the_admin_customer_page_tools_are_italian(client, staff_with_permission, customer, synced):
    client.force_login(staff_with_permission)
    staff_with_permission.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_customer", "change_customer"])
    )

    html = client.get(
        reverse("admin:customers_customer_change", args=[customer.pk]), HTTP_ACCEPT_LANGUAGE="it"
    ).content.decode()

    assert "Gestisci integrazione" in html and "Sincronizza ora" in html and "Disconnetti" in html


def run_page(client, run, language: str) -> str:
    """The customer's page of `run`, as a browser asking for `language` gets it."""
    return client.get(
        reverse("integrations:run", args=[run.customer_id, run.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()


def admin_run_page(admin_client, run, language: str) -> str:
    """The admin's page of `run`, as a staff browser asking for `language` gets it."""
    return admin_client.get(
        reverse("admin:integrations_syncrun_change", args=[run.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()


def test_a_runs_recorded_error_is_shown_in_the_readers_language(client, customer_admin, customer, synced):
    """The worker records its messages in English; the run page and its JSON translate known ones."""
    synced.error = "The connection was disconnected."
    synced.warnings = ["The saved directory position had expired; the whole directory was read again."]
    synced.save()
    client.force_login(customer_admin)

    html = run_page(client, synced, "it")
    progress = client.get(
        reverse("integrations:run_progress", args=[customer.pk, synced.pk]), HTTP_ACCEPT_LANGUAGE="it"
    ).json()

    assert "Il collegamento è stato disconnesso." in html
    assert "è stata riletta l&#x27;intera directory." in html
    assert progress["error"] == "Il collegamento è stato disconnesso."
    assert progress["status_label"] == "Riuscita"


def test_a_runs_warnings_with_their_counts_and_record_notes_are_shown_in_the_readers_language(
    client, customer_admin, customer, synced, admin_client
):
    """Warnings are stored as message ids with their values, so a count or a record's note
    reads in Italian too, on the run page and in the admin, whoever ran the sync."""
    from django.utils.translation import gettext_noop

    from integrations.reasons import RECORD_NOTE, message
    from integrations.sync.classify import FALLBACK_WARNING

    synced.warnings = [
        FALLBACK_WARNING,
        message(
            gettext_noop(
                "%(count)d contact(s) were created in the portal during the sync; "
                "they will be updated at the next run."
            ),
            count=3,
        ),
        message(
            RECORD_NOTE,
            user="obj-1",
            note=message(
                gettext_noop("%(field)s was longer than %(limit)d characters and was shortened"),
                field="job_title",
                limit=128,
            ),
        ),
        "A warning stored as text by an older version",
    ]
    synced.save()
    client.force_login(customer_admin)

    page, english = run_page(client, synced, "it"), run_page(client, synced, "en")
    admin = admin_run_page(admin_client, synced, "it")

    for html in (page, admin):
        assert "L&#x27;autorizzazione MailboxSettings.Read non è concessa" in html
        assert "Contatti creati nel portale durante la sincronizzazione: 3;" in html
        assert "obj-1: job_title superava i 128 caratteri ed è stato accorciato" in html
        assert "A warning stored as text by an older version" in html
    assert "3 contact(s) were created in the portal during the sync" in english
    assert "obj-1: job_title was longer than 128 characters and was shortened" in english


def test_a_held_runs_reason_is_shown_in_the_readers_language_with_its_counts(
    client, customer_admin, customer, synced, admin_client
):
    """The brake stores why it held a run as a message id and its values: the run page, the
    integration page's banner and the admin put it together in their reader's language."""
    from integrations.policies.brake import HOLD_REASON

    synced.status = "held"
    synced.error = HOLD_REASON
    synced.error_params = {"affected": 60, "synced": 200, "share": 30.0, "percent": 20, "minimum": 50}
    synced.preview = {"update": 60, "create": 0}
    synced.save()
    client.force_login(customer_admin)

    page, english = run_page(client, synced, "it"), run_page(client, synced, "en")
    banner = client.get(
        reverse("integrations:manage", args=[customer.pk]), HTTP_ACCEPT_LANGUAGE="it"
    ).content.decode()
    admin = admin_run_page(admin_client, synced, "it")

    for html in (page, banner, admin):
        assert "sovrascriverebbe campi di 60 contatti sincronizzati su 200 (30%" in html
        assert "%(affected)d" not in html
    assert "would overwrite fields of 60 of 200 synced contacts (30%" in english


def test_the_language_switch_never_echoes_the_query_string(client, customer_admin, customer, site):
    """The Microsoft callback's URL carries a one-time code: the switch's `next` keeps only the path."""
    client.force_login(customer_admin)
    path = reverse("portal:site", args=[customer.pk, site.pk])

    html = client.get(path, {"q": "secret-code-1234"}).content.decode()

    switch = re.search(r'<form[^>]*class="language-switch".*?</form>', html, re.S).group(0)
    assert f'name="next" value="{path}"' in switch
    assert "secret-code-1234" not in switch
