"""WebSocket routes of every app, gathered here for the ASGI application."""

from telemed.consults.routing import websocket_urlpatterns as consult_routes
from telemed.messaging.routing import websocket_urlpatterns as messaging_routes
from telemed.notifications.routing import websocket_urlpatterns as notification_routes
from telemed.visits.routing import websocket_urlpatterns as visit_routes

websocket_urlpatterns: list = [*notification_routes, *messaging_routes, *consult_routes, *visit_routes]
