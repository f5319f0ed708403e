"""Who is online right now: the notification WebSocket keeps a short-lived mark in the cache.

An e-mail is only worth sending to someone who is not looking at the platform; with
REDIS_URL the cache is shared by every process, so the mark is seen everywhere.

A live page may also say what its person is looking at (``mark_viewing``: a conversation's
address): a notification about that very thing would tell them what they are reading, so the
app sending it can leave it out. The mark lives as long as the online one and goes when that
page's socket closes; a person with the same thing open in two tabs who closes one gets
notifications again until the other renews its mark: the safe side.
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


def _viewing_key(user_id: int, place: str) -> str:
    return f"viewing:{user_id}:{place}"


def mark_viewing(user_id: int, place: str) -> None:
    """Online, and looking at ``place`` (one call: the page's refresh renews both marks)."""
    cache.set_many({_key(user_id): 1, _viewing_key(user_id, place): 1}, ONLINE_TTL_SECONDS)


def stop_viewing(user_id: int, place: str) -> None:
    cache.delete(_viewing_key(user_id, place))


def viewing_among(user_ids, place: str) -> set[int]:
    """Which of these users have ``place`` open, in one round trip to the cache."""
    found = cache.get_many([_viewing_key(user_id, place) for user_id in user_ids])
    return {user_id for user_id in user_ids if _viewing_key(user_id, place) in found}


def group_name(user_id: int) -> str:
    """The Channels group that reaches every open page of one user."""
    return f"user.{user_id}"
