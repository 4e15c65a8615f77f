"""Fixtures for people and access: staff in the MSP staff group, with and without
the integration permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from portal.access.staff_group import STAFF_GROUP
from tests.conftest import make_user


def client_for(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def msp_staff(db) -> User:
    """A staff member whose only permissions are the MSP staff group's."""
    user = make_user("sam", is_staff=True, email="sam@msp.example")
    user.groups.add(Group.objects.get(name=STAFF_GROUP))
    return user


@pytest.fixture
def staff_without_azure(db) -> User:
    """Staff who may manage customers and memberships but not the integration."""
    user = make_user("helpdesk", is_staff=True, email="helpdesk@msp.example")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="customers"),
        *Permission.objects.filter(content_type__app_label="auth", codename__in=["view_user", "add_user"]),
        *Permission.objects.filter(content_type__app_label="access"),
    )
    return user
