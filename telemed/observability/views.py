"""The Prometheus endpoint. It is not public: it answers only when the operator configured who
may read it, and then only to them; to anyone else (and with nothing configured) it does not
exist (404, the same as any unknown path).

- ``TELEMED_METRICS_TOKEN``: the scrape must send ``Authorization: Bearer <token>`` (compared in
  constant time).
- ``TELEMED_METRICS_NETWORKS``: the scrape must come from one of these networks (e.g. the
  monitoring host's private address). The address is the peer's as the ASGI server saw it, so
  a request that came through the public proxy has the client's address, never the proxy's.
Both set, both must hold."""

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from telemed.lib.clients import client_address
from telemed.observability.metrics import exposition

BEARER = "Bearer "


def _token_matches(request: HttpRequest, token: str) -> bool:
    sent = request.META.get("HTTP_AUTHORIZATION", "")
    if not sent.startswith(BEARER):
        return False
    return hmac.compare_digest(sent[len(BEARER) :].strip().encode(), token.encode())


def _from_networks(request: HttpRequest, networks: list) -> bool:
    address = client_address(request.META)
    if address is None:
        return False
    peer = ipaddress.ip_address(address)
    return any(peer in network for network in networks)


def metrics_allowed(request: HttpRequest) -> bool:
    token, networks = settings.METRICS_TOKEN, settings.METRICS_NETWORKS
    if not (token or networks):
        return False
    if token and not _token_matches(request, token):
        return False
    return not networks or _from_networks(request, networks)


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if request.method not in {"GET", "HEAD"} or not metrics_allowed(request):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
