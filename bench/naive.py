"""The naive reference: the sync written the obvious way, one query (or more)
per user and a `save()` per change. Kept only in the benchmark, to measure
what the real engine saves; it follows the same rules closely enough to do
the same work (same fetch, same filters, same audit rows).
"""

from __future__ import annotations

from django.db.models.functions import Lower
from django.utils import timezone

from integrations.directory_fields import MirrorUser
from integrations.graph.client import GraphClient
from integrations.models import AzureConnection, DirectoryUser, FieldChange, SyncRun
from integrations.sync import loaders
from integrations.sync.classify import classify_disabled_users
from integrations.sync.mirror import FLAG_ATTRIBUTES, TEXT_ATTRIBUTES
from integrations.sync.plan import SYNCED_FIELDS, _admit, is_mailbox
from integrations.values import clean_text, email_key, value_key
from portal.customers.models import Contact


def naive_sync(connection: AzureConnection, run: SyncRun) -> dict[str, int]:
    """Fetch, mirror, classify, plan and apply user by user, in autocommit."""
    client = GraphClient(connection.tenant_id)
    full_pass = not connection.delta_link
    final_link = None
    fetched = 0
    for page in client.iter_user_delta(connection.delta_link or None):
        for user in page.users:
            fetched += 1
            if user.removed:
                DirectoryUser.objects.filter(connection=connection, object_id=user.object_id).update(
                    removed=True
                )
                continue
            present = (set(TEXT_ATTRIBUTES) | set(FLAG_ATTRIBUTES)) if full_pass else user.present
            defaults: dict[str, object] = {"removed": False, "last_seen_at": timezone.now()}
            for name in TEXT_ATTRIBUTES:
                if name in present:
                    defaults[name] = clean_text(name, getattr(user, name))[0]
            for name in FLAG_ATTRIBUTES:
                if name in present:
                    defaults[name] = getattr(user, name)
            DirectoryUser.objects.update_or_create(
                connection=connection, object_id=user.object_id, defaults=defaults
            )
        final_link = page.delta_link or final_link
    AzureConnection.objects.filter(pk=connection.pk).update(delta_link=final_link)
    classify_disabled_users(connection, client.get_mailbox_purposes)

    attribute = loaders.MIRROR_ATTRIBUTE[connection.mapping_attribute]
    site_by_value = loaders.site_by_value(connection)
    site_names = loaders.site_names(connection.customer_id)
    seen: set[str] = set()
    counts = {"fetched": fetched, "created": 0, "updated": 0, "fields_changed": 0}
    mirror = DirectoryUser.objects.filter(connection=connection, removed=False).order_by("object_id")
    for row in mirror.iterator(chunk_size=1000):
        user = MirrorUser(*(getattr(row, name) for name in MirrorUser._fields))
        reason, email, site_id = _admit(user, value_key(getattr(user, attribute)), site_by_value)
        if reason or email_key(email) in seen:
            continue
        seen.add(email_key(email))
        contact = (
            Contact.objects.annotate(key=Lower("email"))
            .filter(customer_id=connection.customer_id, key=email_key(email))
            .first()
        )
        if contact is None:
            contact = Contact.objects.create(
                customer_id=connection.customer_id,
                site_id=site_id,
                email=email,
                first_name=user.given_name,
                last_name=user.surname,
                job_title=user.job_title,
                mobile_phone=user.mobile_phone,
                is_shared_mailbox=is_mailbox(user),
                azure_object_id=user.object_id,
            )
            _audit(run, contact, FieldChange.CREATED, "", contact.email)
            counts["created"] += 1
            continue
        changed = 0
        for field, source in SYNCED_FIELDS.items():
            if getattr(contact, field) != getattr(user, source):
                _audit(run, contact, field, getattr(contact, field), getattr(user, source))
                setattr(contact, field, getattr(user, source))
                changed += 1
        if contact.site_id != site_id:
            old = site_names.get(contact.site_id, "") if contact.site_id else ""
            _audit(run, contact, "site", old, site_names.get(site_id, ""))
            contact.site_id = site_id
            changed += 1
        if changed:
            contact.save()
            counts["updated"] += 1
            counts["fields_changed"] += changed
    return counts


def _audit(run: SyncRun, contact: Contact, field: str, old: str, new: str) -> None:
    FieldChange.objects.create(
        run=run,
        customer_id=contact.customer_id,
        contact=contact,
        contact_email=contact.email,
        field=field,
        old_value=old,
        new_value=new,
    )
