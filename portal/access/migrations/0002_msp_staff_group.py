"""Create the "MSP staff" group with exactly the permissions staff need
(see portal/access/staff_group.py); running it again changes nothing."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

STAFF_GROUP = "MSP staff"
STAFF_PERMISSIONS = [
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
]


def create_group(apps, schema_editor):
    # Permissions are normally created after `migrate`; the group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
    wanted = []
    for name in STAFF_PERMISSIONS:
        app_label, codename = name.split(".")
        wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    group.permissions.set(wanted)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=STAFF_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("customers", "0002_drop_redundant_key_indexes"),
        ("integrations", "0004_health_alert_state"),
        ("access", "0001_initial"),
        ("activity", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
