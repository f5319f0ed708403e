"""Probes of the platform's moving parts, for /healthz and for the operators."""

import asyncio
import os
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django_tasks_db.models import DBTaskResult

from telemed.workers.models import Role
from telemed.workers.selectors import heartbeat_age

PROBE_TIMEOUT_S = 2.0


def _timed(probe) -> dict:
    started = time.perf_counter()
    try:
        detail = probe() or {}
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "down", with its reason
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **detail}


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _cache() -> dict:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("value written was not read back")
    cache.delete(key)
    return {"backend": type(cache).__name__}


def _channel_layer() -> dict:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")

    async def roundtrip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "healthz.ping"})
        message = await asyncio.wait_for(layer.receive(channel), PROBE_TIMEOUT_S)
        if message.get("type") != "healthz.ping":
            raise RuntimeError("unexpected message")

    async_to_sync(roundtrip)()
    return {"backend": type(layer).__name__}


def _task_queue() -> dict:
    ready = DBTaskResult.objects.ready()
    oldest = ready.order_by("enqueued_at").values_list("enqueued_at", flat=True).first()
    return {"ready": ready.count(), "oldest_ready_at": oldest.isoformat() if oldest else None}


def _web_server() -> dict:
    # Whoever answers this request is a live web server process.
    return {"pid": os.getpid()}


def _heartbeat(role: str):
    """A process known by its heartbeat: stale (dead or hung) is down; none at all means that
    none runs here (``serve --no-worker``, or every one stopped cleanly), which is not a fault."""

    def probe() -> dict:
        age = heartbeat_age(role)
        if age is None:
            return {"running": False}
        if age > settings.HEARTBEAT_STALE_AFTER:
            raise RuntimeError(f"last heartbeat {age:.0f} s ago")
        return {"running": True, "age_s": round(age, 1)}

    return probe


def platform_health() -> dict:
    components = {
        "web_server": _timed(_web_server),
        "database": _timed(_database),
        "cache": _timed(_cache),
        "channel_layer": _timed(_channel_layer),
        "task_queue": _timed(_task_queue),
        "task_worker": _timed(_heartbeat(Role.TASK_WORKER)),
        "reminder_dispatcher": _timed(_heartbeat(Role.REMINDERS)),
    }
    return {"ok": all(c["ok"] for c in components.values()), "components": components}
