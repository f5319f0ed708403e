"""Pushing events to open pages through the channel layer, after the transaction commits.

Every push of one transaction goes out in a single hop to the event loop: with Redis each
hop costs milliseconds, and a message typically pushes twice (its conversation and the
recipient's notification badge).
"""

import asyncio
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

_pending = threading.local()


def push_on_commit(group: str, event: dict) -> None:
    """Send ``event`` to ``group`` once the current transaction commits (at once outside one)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _send([(group, event)])
        return
    queue = getattr(_pending, "events", None)
    # After a rollback Django drops the registered flush: then the queue is stale, start anew.
    if queue is None or not any(func is _flush for _, func, _ in connection.run_on_commit):
        queue = _pending.events = []
        transaction.on_commit(_flush)
    queue.append((group, event))


def _flush() -> None:
    events, _pending.events = getattr(_pending, "events", None) or [], None
    _send(events)


def _send(events: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if not events or layer is None:
        return

    async def send_all():
        await asyncio.gather(*(layer.group_send(group, event) for group, event in events))

    async_to_sync(send_all)()
