"""The "MSP staff" group: exactly what MSP staff need to run the service.

Customers, sites, contacts and memberships; customer users (view, add,
change: never superuser, staff, groups or permissions, which the User admin
keeps read-only for them); the Entra ID integration (its permission and its
read-only records); invitations; the activity log. Nothing else: no groups,
no permissions, no task queue. The migration `0002_msp_staff_group` creates
it with this list as it was then.
"""

STAFF_GROUP = "MSP staff"

STAFF_PERMISSIONS = (
    *(
        f"customers.{action}_{model}"
        for model in ("customer", "site", "contact", "membership")
        for action in ("add", "change", "delete", "view")
    ),
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "integrations.manage_azure",
    "integrations.view_azureconnection",
    "integrations.view_sitemapping",
    "integrations.view_syncrun",
    "integrations.view_fieldchange",
    "access.add_invitation",
    "access.view_invitation",
    "activity.view_activity",
)


def ensure_staff_group(using: str = "default", **kwargs) -> None:
    """Create the group if missing and give it exactly STAFF_PERMISSIONS (post_migrate)."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.using(using).get_or_create(name=STAFF_GROUP)
    wanted = []
    for name in STAFF_PERMISSIONS:
        app_label, codename = name.split(".")
        permission = (
            Permission.objects.using(using)
            .filter(content_type__app_label=app_label, codename=codename)
            .first()
        )
        if permission is not None:
            wanted.append(permission)
    group.permissions.set(wanted)
