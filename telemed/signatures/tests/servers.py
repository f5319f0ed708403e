"""Small real HTTP servers on 127.0.0.1 for the tests: a CSC-compatible remote signer and an
RFC 3161 time-stamping authority. Each has its own CA, made here with cryptography."""

import base64
import datetime
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(*attributes) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def _key_usage(**set_bits) -> x509.KeyUsage:
    bits = dict.fromkeys(
        ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"], False,
    )  # fmt: skip
    bits.update(set_bits)
    return x509.KeyUsage(**bits)


class TestAuthority:
    """A throwaway CA issuing leaf certificates."""

    def __init__(self, name: str):
        now = datetime.datetime.now(datetime.UTC)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.name = _name((NameOID.COUNTRY_NAME, "IT"), (NameOID.COMMON_NAME, name))
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def issue(self, subject: x509.Name, *, key_usage: x509.KeyUsage, extended: list, critical_eku=False):
        now = datetime.datetime.now(datetime.UTC)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage(extended), critical=critical_eku)
            .sign(self.key, hashes.SHA256())
        )
        return key, certificate


class _Server:
    def __init__(self, handler_class):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _CscHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def _reply(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self):
        server: CscTestServer = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        server.calls.append(self.path.rsplit("/csc/v1/", 1)[-1])
        if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
            return self._reply(401, {"error": "invalid_token", "error_description": "bad bearer token"})
        endpoint = self.path.removeprefix("/csc/v1/")
        if endpoint == "credentials/list":
            return self._reply(200, {"credentialIDs": list(server.credentials)})
        credential = server.credentials.get(body.get("credentialID"))
        if credential is None:
            return self._reply(400, {"error": "invalid_request", "error_description": "unknown credentialID"})
        if endpoint == "credentials/info":
            return self._reply(200, {
                "key": {"status": "enabled", "algo": ["1.2.840.113549.1.1.11"], "len": 2048},
                "cert": {"status": "valid", "certificates": [
                    base64.b64encode(credential["certificate"].public_bytes(serialization.Encoding.DER)).decode(),
                    base64.b64encode(server.authority.der).decode(),
                ]},
                "authMode": "explicit", "SCAL": "1", "multisign": 50,
            })  # fmt: skip
        if endpoint == "credentials/authorize":
            if body.get("OTP") != server.otp:
                return self._reply(400, {"error": "invalid_otp", "error_description": "The OTP is invalid"})
            sad = secrets.token_urlsafe(16)
            server.sads[sad] = int(body.get("numSignatures", 1))
            return self._reply(200, {"SAD": sad, "expiresIn": 300})
        if endpoint == "signatures/signHash":
            left = server.sads.get(body.get("SAD"), 0)
            hashes_b64 = body.get("hash", [])
            if left < len(hashes_b64):
                return self._reply(400, {"error": "invalid_request", "error_description": "SAD expired or used up"})
            server.sads[body["SAD"]] = left - len(hashes_b64)
            signatures = [
                base64.b64encode(
                    credential["key"].sign(base64.b64decode(h), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
                ).decode()
                for h in hashes_b64
            ]
            return self._reply(200, {"signatures": signatures})
        return self._reply(404, {"error": "invalid_request"})


class CscTestServer(_Server):
    """A Cloud Signature Consortium API v1 signer: one credential per doctor, a fixed OTP."""

    def __init__(self, *, otp: str = "246810", token: str = ""):
        super().__init__(_CscHandler)
        self.authority = TestAuthority("Test Qualified Trust Service CA")
        self.otp = otp
        self.token = token
        self.credentials: dict[str, dict] = {}
        self.sads: dict[str, int] = {}
        self.calls: list[str] = []

    def add_credential(self, credential_id: str, *, first_name: str, last_name: str, codice_fiscale: str) -> None:
        subject = _name(
            (NameOID.COUNTRY_NAME, "IT"), (NameOID.SURNAME, last_name), (NameOID.GIVEN_NAME, first_name),
            (NameOID.SERIAL_NUMBER, f"TINIT-{codice_fiscale}"), (NameOID.COMMON_NAME, f"{first_name} {last_name}"),
        )  # fmt: skip
        key, certificate = self.authority.issue(
            subject,
            key_usage=_key_usage(digital_signature=True, content_commitment=True),
            extended=[ExtendedKeyUsageOID.EMAIL_PROTECTION],
        )
        self.credentials[credential_id] = {"key": key, "certificate": certificate}


class _TsaHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        server: TsaTestServer = self.server.owner
        request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        response = server.stamper.request_tsa_response(request).dump()
        server.requests += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(response)))
        self.end_headers()
        self.wfile.write(response)


class TsaTestServer(_Server):
    """An RFC 3161 time-stamping authority answering over HTTP (pyHanko's DummyTimeStamper inside)."""

    def __init__(self):
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

        super().__init__(_TsaHandler)
        self.authority = TestAuthority("Test Time-Stamping CA")
        key, certificate = self.authority.issue(
            _name((NameOID.COUNTRY_NAME, "IT"), (NameOID.COMMON_NAME, "Test TSA")),
            key_usage=_key_usage(digital_signature=True),
            extended=[ExtendedKeyUsageOID.TIME_STAMPING],
            critical_eku=True,
        )
        self.stamper = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER)),
            tsa_key=asn1_keys.PrivateKeyInfo.load(
                key.private_bytes(
                    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            ),
            certs_to_embed=[asn1_x509.Certificate.load(self.authority.der)],
        )
        self.requests = 0
