"""Reads that turn database rows into the plan's plain inputs.

Each is one query, streamed, whatever the size of the tenant.
"""

from __future__ import annotations

from collections.abc import Iterator

from integrations.models import AzureConnection, DirectoryUser, MappingAttribute
from integrations.sync.plan import ContactState, MirrorUser
from portal.customers.models import Contact, Site

MIRROR_ATTRIBUTE = {
    MappingAttribute.OFFICE: "office_location",
    MappingAttribute.DEPARTMENT: "department",
}
_MIRROR_FIELDS = [name for name in MirrorUser.__slots__]
_CONTACT_FIELDS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "job_title",
    "mobile_phone",
    "site_id",
    "is_shared_mailbox",
    "azure_object_id",
]
CHUNK = 5000


def mirror_users(connection: AzureConnection) -> Iterator[MirrorUser]:
    rows = (
        DirectoryUser.objects.filter(connection=connection, removed=False)
        .order_by()
        .values_list(*_MIRROR_FIELDS)
        .iterator(chunk_size=CHUNK)
    )
    for row in rows:
        yield MirrorUser(*row)


def mirror_size(connection: AzureConnection) -> int:
    return DirectoryUser.objects.filter(connection=connection, removed=False).count()


def contact_states(customer_id: int) -> Iterator[ContactState]:
    rows = Contact.objects.filter(customer_id=customer_id).order_by().values_list(*_CONTACT_FIELDS)
    for row in rows.iterator(chunk_size=CHUNK):
        yield ContactState(*row)


def site_by_value(connection: AzureConnection) -> dict[str, int]:
    return dict(connection.mappings.values_list("value_key", "site_id"))


def site_names(customer_id: int) -> dict[int, str]:
    return dict(Site.objects.filter(customer_id=customer_id).values_list("id", "name"))
