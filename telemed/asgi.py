"""ASGI entry point: HTTP through Django (an upload's chunks streamed to the view, see
streaming.py), WebSockets through Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

from telemed.streaming import get_streaming_asgi_application

django_application = get_streaming_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402

from telemed.accounts.middleware import SecondFactorWebsocketMiddleware  # noqa: E402
from telemed.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(SecondFactorWebsocketMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
