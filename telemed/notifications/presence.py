"""Who is online right now: the notification WebSocket keeps a short-lived mark in the cache.

An e-mail is only worth sending to someone who is not looking at the platform; with
REDIS_URL the cache is shared by every process, so the mark is seen everywhere.
"""

from django.core.cache import cache

ONLINE_TTL_SECONDS = 90
# How often an open socket renews its mark: well inside the TTL, and rare enough to cost nothing.
ONLINE_REFRESH_SECONDS = 30


def _key(user_id: int) -> str:
    return f"presence:{user_id}"


def mark_online(user_id: int) -> None:
    cache.set(_key(user_id), 1, ONLINE_TTL_SECONDS)


def mark_offline(user_id: int) -> None:
    cache.delete(_key(user_id))


def is_online(user_id: int) -> bool:
    return cache.get(_key(user_id)) is not None


def online_among(user_ids) -> set[int]:
    """Which of these users are online, in one round trip to the cache."""
    found = cache.get_many([_key(user_id) for user_id in user_ids])
    return {user_id for user_id in user_ids if _key(user_id) in found}


def group_name(user_id: int) -> str:
    """The Channels group that reaches every open page of one user."""
    return f"user.{user_id}"
