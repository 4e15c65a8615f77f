"""A customer with a connected tenant, a mapping, a finished run and an audited
change: enough for every key page to show its full content."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.models import AzureConnection, DirectoryUser, FieldChange, SiteMapping, SyncRun


@pytest.fixture
def synced(customer, site, contact) -> SyncRun:
    connection = AzureConnection.objects.create(
        customer=customer, tenant_id="11111111-2222-3333-4444-555555555555", tenant_name="Contoso Ltd"
    )
    SiteMapping.objects.create(connection=connection, value="Milan HQ", site=site)
    DirectoryUser.objects.create(
        connection=connection, object_id="u1", mail=contact.email, office_location="Milan HQ"
    )
    run = SyncRun.queue(connection, trigger=SyncRun.Trigger.MANUAL)
    run.start()
    run.created, run.updated, run.fields_changed = 1, 1, 1
    run.finish()
    FieldChange.objects.create(
        run=run,
        customer=customer,
        contact=contact,
        contact_email=contact.email,
        field="job_title",
        old_value="Engineer",
        new_value="Countess",
        changed_at=timezone.now(),
    )
    return run
