"""The client's address for login throttling, also behind reverse proxies.

Only the last `TRUSTED_PROXY_COUNT` hops of X-Forwarded-For were written by
our own proxies; anything left of them is whatever the client sent, so it is
never trusted (a forged header must not pick the address that gets locked).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < count:
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
