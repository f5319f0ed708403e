"""The ASGI application as Granian serves it (``manage.py serve --server granian``).

uvicorn replaces the peer address with the client's from X-Forwarded-For when the peer is a
trusted proxy (``--proxy-headers``); Granian leaves that to the application. The login lockout
and the audit trail read the client's address (telemed/lib/clients.py), so behind nginx they
must see the client, not the proxy: Granian's own wrapper does what uvicorn does, trusting the
same addresses (FORWARDED_ALLOW_IPS, 127.0.0.1 unless set, as uvicorn's default).
"""

import os

from granian.utils.proxies import wrap_asgi_with_proxy_headers

from telemed.asgi import application as _application

application = wrap_asgi_with_proxy_headers(
    _application, trusted_hosts=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
)
