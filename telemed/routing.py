"""WebSocket routes of every app, gathered here for the ASGI application."""

from django.urls import re_path

from telemed.consults.routing import websocket_urlpatterns as consult_routes
from telemed.messaging.routing import websocket_urlpatterns as messaging_routes
from telemed.notifications.routing import websocket_urlpatterns as notification_routes
from telemed.observability.websockets import connections_counted
from telemed.visits.routing import websocket_urlpatterns as visit_routes

# The close code of a socket whose path is no route (as 404 is for a page).
CLOSE_NO_ROUTE = 4404


async def no_route(scope, receive, send):
    """A socket to a path that no app serves: refused at the handshake, with nothing logged.
    Without it Channels' router raises, and the server answers 500 with a traceback."""
    if (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": CLOSE_NO_ROUTE})


# Each consumer's open connections are counted for /metrics.
websocket_urlpatterns: list = [
    *connections_counted([*notification_routes, *messaging_routes, *consult_routes, *visit_routes]),
    re_path(r"", no_route),  # last: only what matched nothing above
]
