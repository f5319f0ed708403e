"""Django's ASGI handler, except that an upload's chunk reaches the view as it arrives.

Django's ASGIHandler reads the whole request body into a spooled temporary file (on disk past
2.5 MB) before it calls the view, so every byte of an upload was written twice: once by Django,
once into the upload's part file. For the requests named in ``STREAMED`` (the resumable
upload's PATCH, a radiology CD's files) the handler gives the request a ``ReceivedBody`` instead: ``request.read(n)``,
in the view's thread, waits on the event loop for the next ASGI messages of the body. The view
writes each block once, into the part file.

Everything else about the request is Django's: the middleware (session, second factor, CSRF)
runs as for any request before the view reads a byte.

The middleware and the views are all synchronous, so the handler runs the whole chain in one hop
to the thread of synchronous code. Django's own asynchronous chain would hop there and back
around each middleware that can also run asynchronously (three hops a request, each a handover
between the event loop and that thread), which cost more than some pages. A body that is never read is never
received: the server's flow control holds the client back, which is what a refused chunk wants.

A client that goes away mid-body makes ``read`` raise ``OSError``, as a broken file would; the
view then cuts the part file back (boxes.services._write_chunk).
"""

import asyncio
import re

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler

# Method and path of the requests whose body is streamed to the view: an upload's chunk, a
# chunk of one file of a CD, a batch of a CD's files.
STREAMED = (
    ("PATCH", re.compile(r"^/box/uploads/[0-9a-f-]{36}$")),
    ("POST", re.compile(r"^/dicom/imports/[0-9a-f-]{36}/(files|batch)$")),
)


class ReceivedBody:
    """A request body read from the ASGI ``receive`` callable as the view asks for it."""

    def __init__(self, receive):
        self._receive = receive
        self._buffer = bytearray()
        self._more = True
        self.disconnected = asyncio.Event()

    async def _fill(self, size: int) -> None:
        # One hop from the view's thread to the event loop per read, not per ASGI message
        # (a server hands the body over in pieces of tens of kB).
        while self._more and (size < 0 or len(self._buffer) < size):
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._more = False
                self.disconnected.set()
                raise OSError("the client went away before the end of the body")
            self._buffer += message.get("body", b"")
            self._more = message.get("more_body", False)

    def read(self, size: int = -1) -> bytes:
        if size is None:
            size = -1
        if self._more and (size < 0 or len(self._buffer) < size):
            async_to_sync(self._fill)(size)
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), bytearray()
        else:
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
        return data

    def readline(self, size: int = -1) -> bytes:
        raise OSError("a streamed upload body is read in blocks, not lines")

    def close(self) -> None:
        self._buffer = bytearray()


class _StreamingReceive:
    """Marks a request whose body is streamed; ``body`` is what the request reads."""

    def __init__(self, receive):
        self.body = ReceivedBody(receive)

    async def __call__(self):  # pragma: no cover - Django's own reads go through ``body``
        raise RuntimeError("the body of a streamed request is read by the view only")


def streams(scope) -> bool:
    return any(scope.get("method") == method and pattern.match(scope.get("path", "")) for method, pattern in STREAMED)


class StreamingASGIHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        # The synchronous chain (middleware, URL resolution, view), awaited in one hop.
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    async def handle(self, scope, receive, send):
        if streams(scope):
            receive = _StreamingReceive(receive)
        return await super().handle(scope, receive, send)

    async def read_body(self, receive):
        if isinstance(receive, _StreamingReceive):
            return receive.body
        return await super().read_body(receive)

    async def listen_for_disconnect(self, receive):
        if isinstance(receive, _StreamingReceive):
            # The body's reader is the one listening: it sees the disconnect among the messages.
            await receive.body.disconnected.wait()
            raise RequestAborted()
        return await super().listen_for_disconnect(receive)


def get_streaming_asgi_application() -> StreamingASGIHandler:
    """Like ``django.core.asgi.get_asgi_application``."""
    import django

    django.setup(set_prefix=False)
    return StreamingASGIHandler()
