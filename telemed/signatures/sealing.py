"""Encryption at rest of the secrets that signing needs: private keys, TOTP seeds, provider tokens.

The key comes from the environment (``TELEMED_SIGNING_KEY``), never from the database, so that a
copy of the database alone signs nothing. AES-256-GCM with a random nonce; the row's purpose is
bound in as associated data, so that a sealed value cannot be moved to another row's field.
"""

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_VERSION = b"\x01"
_NONCE_BYTES = 12


class UnsealError(Exception):
    """The sealed value was not made with the configured key (or was tampered with)."""


def _key() -> bytes:
    if not settings.SIGNING_KEY_SECRET:
        raise ImproperlyConfigured("TELEMED_SIGNING_KEY must be set when TELEMED_ENV=production")
    # Any length of secret in the environment gives a 256-bit key.
    return hashlib.sha256(b"telemed-signing-at-rest:" + settings.SIGNING_KEY_SECRET.encode()).digest()


def seal(plaintext: bytes, *, purpose: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(_key()).encrypt(nonce, plaintext, purpose.encode())


def unseal(sealed: bytes, *, purpose: str) -> bytes:
    sealed = bytes(sealed)
    if not sealed.startswith(_VERSION) or len(sealed) < 1 + _NONCE_BYTES + 16:
        raise UnsealError(purpose)
    nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
    try:
        return AESGCM(_key()).decrypt(nonce, ciphertext, purpose.encode())
    except InvalidTag as exc:
        raise UnsealError(purpose) from exc
