"""The API's rate limit: so many requests per token in a window (per person for the browsable
docs' session, per address when anonymous), beyond which the answer is 429 with Retry-After.

A fixed window counted in the cache with one atomic ``incr`` per request (Redis in production,
so every process counts together): ninja's own throttle keeps a list of timestamps that two
processes can overwrite under each other."""

import math
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from telemed.lib.clients import client_address

# The limiter's clock (a test sets it, so that no window boundary falls between its requests).
clock = time.time

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"120/min"`` → (120, 60)."""
    count, _slash, period = rate.partition("/")
    return int(count), PERIODS[period.strip()]


class TokenRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        # What the last refusal in this thread asks to wait: ninja asks ``wait()`` right after
        # ``allow_request()`` in the same thread, and one instance serves every request.
        self._refusal = threading.local()

    @staticmethod
    def _who(request: HttpRequest) -> tuple[str, str]:
        token_id = getattr(request, "api_token_id", None)
        if token_id is not None:
            return f"token:{token_id}", settings.API_RATE_LIMIT
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}", settings.API_RATE_LIMIT
        return f"address:{client_address(request.META)}", settings.API_ANONYMOUS_RATE_LIMIT

    def allow_request(self, request: HttpRequest) -> bool:
        who, rate = self._who(request)
        limit, period = parse_rate(rate)
        now = clock()
        window = int(now // period)
        key = f"api-rate:{who}:{period}:{window}"
        cache.add(key, 0, timeout=period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between the two calls: this request opens the window
            cache.add(key, 1, timeout=period + 1)
            count = 1
        if count <= limit:
            return True
        self._refusal.wait = max(1, math.ceil((window + 1) * period - now))
        return False

    def wait(self) -> float | None:
        return getattr(self._refusal, "wait", None)
