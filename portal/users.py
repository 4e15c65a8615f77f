"""The user a request carries, typed: who is signed in, or not yet."""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

# `request.user`: the signed-in user, or AnonymousUser. Permission predicates take
# this and narrow it with `is_authenticated`; services that record who acted take a User.
RequestUser: TypeAlias = User | AnonymousUser


def signed_in_user(request: HttpRequest) -> User:
    """The user of a view that only signed-in users reach (`login_required`, the admin).

    The middleware and decorators already turned anonymous requests away; this
    narrows the type for the services that record who acted.
    """
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    return user
