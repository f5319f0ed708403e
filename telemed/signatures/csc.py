"""Client of a remote qualified signer speaking the Cloud Signature Consortium API (v1).

credentials/list and credentials/authorize are called here; credentials/info and signatures/signHash
go through pyHanko's CSC support (``fetch_certs_in_csc_credential`` and ``CSCSigner``), over aiohttp.
The OTP the doctor types is handed to credentials/authorize once for the whole batch (SCAL 1:
the activation data is not pinned to hashes, as Italian remote-signature services do for batches).
"""

import logging
from dataclasses import dataclass

import aiohttp
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCCredentialInfo,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30


class RemoteSignerError(Exception):
    """The provider answered no, or could not be reached. ``code`` is the CSC error when it gave one."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Connection:
    base_url: str
    credential_id: str
    access_token: str = ""

    @property
    def session_info(self) -> CSCServiceSessionInfo:
        return CSCServiceSessionInfo(
            service_url=self.base_url.rstrip("/").removesuffix("/csc/v1"),
            credential_id=self.credential_id,
            oauth_token=self.access_token or None,
        )


def _headers(connection: Connection) -> dict:
    return {"Authorization": f"Bearer {connection.access_token}"} if connection.access_token else {}


async def _post(session: aiohttp.ClientSession, connection: Connection, endpoint: str, body: dict) -> dict:
    url = f"{connection.session_info.endpoint_url(endpoint)}"
    try:
        async with session.post(
            url, json=body, headers=_headers(connection), timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        ) as response:
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = {}
            if response.status >= 400 or not isinstance(data, dict):
                error = data.get("error", f"http_{response.status}") if isinstance(data, dict) else "bad_response"
                raise RemoteSignerError(
                    str(error), str(data.get("error_description", "")) if isinstance(data, dict) else ""
                )
            return data
    except aiohttp.ClientError as exc:
        raise RemoteSignerError("unreachable", str(exc)) from exc
    except TimeoutError as exc:
        raise RemoteSignerError("unreachable", "timeout") from exc


async def credentials_list(session: aiohttp.ClientSession, connection: Connection) -> list[str]:
    data = await _post(session, connection, "credentials/list", {"maxResults": 100})
    ids = data.get("credentialIDs", [])
    return [str(item) for item in ids] if isinstance(ids, list) else []


async def credential_info(session: aiohttp.ClientSession, connection: Connection) -> CSCCredentialInfo:
    try:
        return await fetch_certs_in_csc_credential(session, connection.session_info, timeout=TIMEOUT_SECONDS)
    except SigningError as exc:
        raise RemoteSignerError("credential_info", str(exc)) from exc


async def authorize(
    session: aiohttp.ClientSession, connection: Connection, *, otp: str, signatures: int, description: str
) -> CSCAuthorizationInfo:
    data = await _post(
        session,
        connection,
        "credentials/authorize",
        {"credentialID": connection.credential_id, "numSignatures": signatures, "OTP": otp, "description": description},
    )
    try:
        return CSCAuthorizationManager.parse_csc_auth_response(data)
    except SigningError as exc:
        raise RemoteSignerError("bad_response", str(exc)) from exc


class BatchAuthorizationManager(CSCAuthorizationManager):
    """Hands out the activation data obtained once with the doctor's OTP, for up to N signatures."""

    def __init__(self, session_info, credential_info, authorization: CSCAuthorizationInfo, signatures: int):
        super().__init__(session_info, credential_info)
        self._authorization = authorization
        self._left = signatures

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        if self._left < len(hash_b64s):
            raise SigningError("more signatures than the OTP authorised")
        self._left -= len(hash_b64s)
        return self._authorization


def remote_signer(session: aiohttp.ClientSession, manager: BatchAuthorizationManager) -> CSCSigner:
    return CSCSigner(session, manager, batch_size=1, sign_timeout=TIMEOUT_SECONDS)
