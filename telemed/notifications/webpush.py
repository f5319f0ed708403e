"""Web push (RFC 8030) to the devices that opted in: the platform's VAPID keys, which
subscriptions it accepts, what a push says, and the one call that sends it.

Rules:
- A push says only that something arrived and of which kind, like the notification e-mail: the
  notification's title may name clinical things and never leaves the platform. Its link is the
  notification's own page on this site, which marks it read and leads on.
- The payload is encrypted for the browser (RFC 8291, aes128gcm) and signed with the platform's
  VAPID key (RFC 8292) by pywebpush; nothing but the push service and the browser sees it.
- The platform posts only to push services it knows (``PUSH_SERVICE_HOSTS``) over HTTPS, never
  follows a redirect, and (development and tests only) to plain HTTP on the loopback address.
- A push service answering 404 or 410 says the subscription is gone for good: the caller
  forgets it. Any other failure may pass: the caller tries again later.
- The caller sends inside the transaction that holds the push's outbox key, as e-mails do
  (telemed/outbox): a second run waits for the first and then skips. On SQLite that holds the
  write lock while the push service answers (at most ``TIMEOUT_SECONDS``).
- In development the key pair is made once under ``VAR_DIR`` and kept, so that browsers'
  subscriptions survive a restart; production refuses to start without one (settings).
"""

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

GONE = {404, 410}
TIMEOUT_SECONDS = 10
DEVELOPMENT_KEY_FILE = "vapid-development.pem"


@dataclass(frozen=True)
class Outcome:
    """What the push service answered: delivered, gone (forget the subscription), or failed
    (worth another try)."""

    delivered: bool = False
    gone: bool = False
    error: str = ""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_key_of(private_key: ec.EllipticCurvePrivateKey) -> str:
    return _b64url(
        private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def new_key_pair() -> tuple[str, str]:
    """A new VAPID key pair as the environment takes it: (public, private), both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _public_key_of(key), _b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def _development_key(var_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The development key pair, made on first use. Processes starting together (test workers,
    `serve`'s children) may race: each writes its own file and links it into place, the link
    fails for all but one, and every one of them then reads the winner's."""
    path = var_dir / DEVELOPMENT_KEY_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, temporary = tempfile.mkstemp(dir=var_dir, prefix=".vapid-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


@cache
def _keys(public: str, private: str, var_dir: str) -> tuple[str, Vapid]:
    if public and private:
        if "-----BEGIN" in private:
            return public, Vapid.from_pem(private.encode())
        return public, Vapid.from_string(private_key=private)
    key = _development_key(Path(var_dir))
    return _public_key_of(key), Vapid(key)


def vapid_keys() -> tuple[str, Vapid]:
    """(the public key as browsers want it, the signer)."""
    return _keys(settings.PUSH_VAPID_PUBLIC_KEY, settings.PUSH_VAPID_PRIVATE_KEY, str(settings.VAR_DIR))


def keys_problem() -> str:
    """What is wrong with the configured key pair; empty when it can sign."""
    try:
        public, signer = vapid_keys()
    except Exception as error:  # noqa: BLE001 - any parse failure is the same answer: unreadable
        return f"TELEMED_VAPID_PRIVATE_KEY cannot be read ({type(error).__name__})"
    if _public_key_of(signer.private_key) != public.rstrip("="):
        return "TELEMED_VAPID_PUBLIC_KEY is not the public half of TELEMED_VAPID_PRIVATE_KEY"
    return ""


def vapid_public_key() -> str:
    return vapid_keys()[0]


def endpoint_allowed(endpoint: str) -> bool:
    """Whether the platform may post pushes to ``endpoint`` (see the module's rules)."""
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    if parts.username or parts.password or not host:
        return False
    if parts.scheme == "http":
        return settings.PUSH_ALLOW_LOOPBACK and host in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https":
        return False
    if settings.PUSH_ALLOW_LOOPBACK and host in {"127.0.0.1", "localhost", "::1"}:
        return True
    return any(host == allowed or host.endswith("." + allowed) for allowed in settings.PUSH_SERVICE_HOSTS)


def keys_valid(*, p256dh: str, auth: str) -> bool:
    """A subscription's keys: the browser's P-256 public key (65 bytes, uncompressed) and its
    16-byte authentication secret, both base64url."""
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url_decode(p256dh))
        return len(_b64url_decode(auth)) == 16
    except (ValueError, TypeError):
        return False


def payload(*, title: str, body: str, url: str, tag: str, lang: str) -> str:
    """The JSON the service worker shows (the portal's template sw.js reads these keys)."""
    return json.dumps({"title": title, "body": body, "url": url, "tag": tag, "lang": lang}, ensure_ascii=False)


class _NoRedirects(requests.Session):
    """A push service answers; it never sends the platform elsewhere."""

    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


def push_send(*, endpoint: str, p256dh: str, auth: str, data: str) -> Outcome:
    """Encrypt ``data`` for one subscription and post it to its push service."""
    if not endpoint_allowed(endpoint):
        return Outcome(gone=True)
    _public, signer = vapid_keys()
    try:
        with _NoRedirects() as session:
            response = webpush(
                subscription_info={"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
                data=data,
                vapid_private_key=signer,
                vapid_claims={"sub": settings.PUSH_VAPID_SUBJECT},
                ttl=settings.PUSH_TTL_SECONDS,
                timeout=TIMEOUT_SECONDS,
                requests_session=session,
            )
    except WebPushException as error:
        if error.status_code in GONE:
            return Outcome(gone=True)
        return Outcome(error=f"push service answered {error.status_code}")
    except requests.RequestException as error:
        return Outcome(error=f"push service unreachable: {type(error).__name__}")
    if not 200 <= response.status_code < 300:  # a redirect: not followed, not delivered
        return Outcome(error=f"push service answered {response.status_code}")
    return Outcome(delivered=True)


# (what the User-Agent contains, what to call it), first match wins: enough to tell one's phone
# from one's computer on the preferences page.
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "Mac"),
    ("Linux", "Linux"),
)
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)


def device_label(user_agent: str) -> str:
    """A short name for a device from its User-Agent ("Chrome · Android"); empty if unknown."""
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "")
    return " · ".join(part for part in (browser, system) if part)
