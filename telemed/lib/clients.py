"""Who is on the other end of a request, as far as the platform records it (audit and security
trails): the peer's address and a printable, bounded browser string. Both read a WSGI/ASGI
``META`` mapping, so they need nothing of Django."""

import ipaddress
from collections.abc import Mapping

USER_AGENT_MAX = 300


def client_address(meta: Mapping[str, str] | None) -> str | None:
    # REMOTE_ADDR is the peer as the ASGI server saw it (uvicorn's --proxy-headers
    # already replaced it with the forwarded client when the proxy is trusted).
    if meta is None:
        return None
    try:
        return str(ipaddress.ip_address(meta.get("REMOTE_ADDR", "")))
    except ValueError:
        return None


def client_user_agent(meta: Mapping[str, str] | None) -> str:
    # A header is user input: keep it printable and bounded.
    value = (meta or {}).get("HTTP_USER_AGENT", "")
    return "".join(ch for ch in value if ch.isprintable())[:USER_AGENT_MAX]
