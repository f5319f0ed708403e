"""Open WebSocket connections, counted by consumer: each route's consumer is wrapped, and a
connection counts from the moment the consumer accepts it until it ends (a refused handshake
never counts)."""

from telemed.observability.metrics import websocket_connections


class CountedConnections:
    """An ASGI application (a consumer) whose accepted connections are counted."""

    def __init__(self, application, consumer: str):
        self.application = application
        self.consumer = consumer

    async def __call__(self, scope, receive, send):
        gauge = websocket_connections.labels(consumer=self.consumer)
        accepted = False

        async def counting_send(message):
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                gauge.inc()
            await send(message)

        try:
            return await self.application(scope, receive, counting_send)
        finally:
            if accepted:
                gauge.dec()


def connections_counted(urlpatterns: list) -> list:
    """The same routes, each consumer wrapped in ``CountedConnections`` (named by its class)."""
    for pattern in urlpatterns:
        consumer = getattr(pattern.callback, "consumer_class", None)
        if consumer is not None and not isinstance(pattern.callback, CountedConnections):
            pattern.callback = CountedConnections(pattern.callback, consumer.__name__)
    return urlpatterns
