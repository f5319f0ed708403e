"""ICE servers for the browsers: STUN, and TURN with time-limited credentials in coturn's REST style
(``use-auth-secret``): username = "<expiry>:<user id>", credential = base64(HMAC-SHA1(secret, username)).
The secret never leaves the server; a leaked credential stops working when it expires."""

import base64
import hashlib
import hmac
import time

from django.conf import settings


def turn_credential(*, user_id: int, secret: str, ttl_seconds: int, now: float | None = None) -> tuple[str, str]:
    expiry = int((now if now is not None else time.time()) + ttl_seconds)
    username = f"{expiry}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(user) -> list[dict]:
    servers: list[dict] = []
    if settings.VISITS_STUN_URLS:
        servers.append({"urls": list(settings.VISITS_STUN_URLS)})
    if settings.VISITS_TURN_URLS and settings.VISITS_TURN_SECRET:
        username, credential = turn_credential(
            user_id=user.pk, secret=settings.VISITS_TURN_SECRET, ttl_seconds=settings.VISITS_TURN_TTL
        )
        servers.append({"urls": list(settings.VISITS_TURN_URLS), "username": username, "credential": credential})
    return servers
