"""Django's ASGI handler, except that an upload's chunk reaches the view as it arrives.

Django's ASGIHandler reads the whole request body into a spooled temporary file (on disk past
2.5 MB) before it calls the view, so every byte of an upload was written twice: once by Django,
once into the upload's part file. For the requests named in ``STREAMED`` (the resumable
upload's PATCH, a radiology CD's files) the handler gives the request a ``ReceivedBody`` instead: ``request.read(n)``,
in the view's thread, takes what the event loop has received of the body so far, or waits for
it. The view writes each block once, into the part file.

The loop reads ahead of the view, up to ``AHEAD`` bytes: while the view's thread writes and
hashes one block (both let go of the GIL), the loop already receives the next, so the network
and the disk work at the same time instead of taking turns. The pieces the server hands over
are kept as they are, and a read joins just the pieces it takes (one copy).

Everything else about the request is Django's: the middleware (session, second factor, CSRF)
runs as for any request before the view reads a byte. A body that is never read is never
received: the loop starts reading only at the view's first read, and the server's flow control
holds the client back, which is what a refused chunk wants.

The middleware and the views are all synchronous, so the handler runs the whole chain in one hop
to the thread of synchronous code. Django's own asynchronous chain would hop there and back
around each middleware that can also run asynchronously (three hops a request, each a handover
between the event loop and that thread), which cost more than some pages.

A client that goes away mid-body makes ``read`` raise ``OSError``, as a broken file would; the
view then cuts the part file back (boxes.uploads._write_chunk).
"""

import asyncio
import collections
import re
import threading

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler

# Method and path of the requests whose body is streamed to the view: an upload's chunk, a
# chunk of one file of a CD, a batch of a CD's files.
STREAMED = (
    ("PATCH", re.compile(r"^/box/uploads/[0-9a-f-]{36}$")),
    ("POST", re.compile(r"^/dicom/imports/[0-9a-f-]{36}/(files|batch)$")),
)


class ReceivedBody:
    """A request body received by the event loop ahead of the view's thread, which reads it."""

    AHEAD = 8 * 1024 * 1024

    def __init__(self, receive):
        self._receive = receive
        self._loop = asyncio.get_running_loop()
        self._pump: asyncio.Task | None = None
        self._started = False
        # What the loop received and the view has not read yet, guarded by ``_ready`` (the
        # view's thread waits on it); ``_room`` lets the loop go on once the view took some.
        self._ready = threading.Condition()
        self._pieces: collections.deque[bytes | memoryview] = collections.deque()
        self._buffered = 0
        self._more = True
        self._gone = False
        self._room = asyncio.Event()
        self._waiting_for_room = False
        self.disconnected = asyncio.Event()

    async def _receive_ahead(self) -> None:
        try:
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    self.disconnected.set()
                    self._ended(gone=True)
                    return
                body, more = message.get("body", b""), message.get("more_body", False)
                with self._ready:
                    if body:
                        self._pieces.append(body)
                        self._buffered += len(body)
                    self._more = more
                    full = more and self._buffered >= self.AHEAD
                    if full:
                        self._room.clear()
                        self._waiting_for_room = True
                    self._ready.notify_all()
                if not more:
                    return
                if full:
                    await self._room.wait()
        except BaseException:
            self._ended(gone=True)
            raise

    def _ended(self, *, gone: bool) -> None:
        with self._ready:
            self._more, self._gone = False, gone
            self._ready.notify_all()

    def _start(self) -> None:
        self._pump = self._loop.create_task(self._receive_ahead())

    def read(self, size: int = -1) -> bytes:
        if size is None:
            size = -1
        if not self._started:
            self._started = True
            self._loop.call_soon_threadsafe(self._start)
        with self._ready:
            while self._more and (size < 0 or self._buffered < size):
                self._ready.wait()
            if self._gone:
                raise OSError("the client went away before the end of the body")
            taken = self._take(size)
            if self._waiting_for_room and self._buffered < self.AHEAD // 2:
                self._waiting_for_room = False
                self._loop.call_soon_threadsafe(self._room.set)
        if len(taken) == 1 and isinstance(taken[0], bytes):
            return taken[0]
        return b"".join(taken)

    def _take(self, size: int) -> list[bytes | memoryview]:
        if size < 0 or size >= self._buffered:
            taken, self._pieces = list(self._pieces), collections.deque()
        else:
            taken, wanted = [], size
            while wanted:
                piece = self._pieces.popleft()
                if len(piece) > wanted:
                    rest = memoryview(piece)
                    piece, rest = rest[:wanted], rest[wanted:]
                    self._pieces.appendleft(rest)
                taken.append(piece)
                wanted -= len(piece)
        self._buffered -= sum(len(piece) for piece in taken)
        return taken

    def readline(self, size: int = -1) -> bytes:
        raise OSError("a streamed upload body is read in blocks, not lines")

    def close(self) -> None:
        """Called by the handler, in the loop, when the response is sent: stop reading ahead."""
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        with self._ready:
            self._pieces.clear()
            self._buffered = 0


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
