"""deploy/: what an operator installs says what the platform is. Each systemd unit starts a command
that exists, with options it knows; the web command is in one place and is uvicorn as `serve`
runs it; the nginx site passes `nginx -t` (when nginx is installed) and agrees with the platform
(body size, WebSocket routes, the address it forwards)."""

import configparser
import datetime
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = {
    "telemed-web@.service": "web",
    "telemed-worker@.service": "task_worker",
    "telemed-dispatcher@.service": "reminders_dispatch",
}
VENV_PYTHON = "/opt/telemed/.venv/bin/python"
WEB_SCRIPT = "/opt/telemed/deploy/bin/telemed-web"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read(DEPLOY / "systemd" / name)
    return parser


def options_of(words: list[str]) -> list[str]:
    return [word for word in words if word.startswith("--")]


def help_of(*command: str) -> str:
    result = subprocess.run([sys.executable, *command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", sorted(UNITS))
def test_every_unit_runs_from_the_checkout_with_the_shared_environment_file(name):
    service = unit(name)["Service"]
    assert service["WorkingDirectory"] == "/opt/telemed"
    assert service["EnvironmentFile"] == "/etc/telemed/telemed.env"
    assert service["User"] == "telemed" and service["Restart"] == "always"
    assert unit(name)["Install"]["WantedBy"] == "telemed.target"
    assert (DEPLOY / "systemd" / "telemed.target").is_file()


@pytest.mark.parametrize("name", ["telemed-worker@.service", "telemed-dispatcher@.service"])
def test_the_worker_and_dispatcher_units_run_real_manage_py_commands_with_real_options(name):
    from django.core.management import get_commands

    words = shlex.split(unit(name)["Service"]["ExecStart"])
    assert words[:2] == [VENV_PYTHON, "manage.py"], words
    command = words[2]
    assert command == UNITS[name] and command in get_commands()
    known = help_of("manage.py", command)
    for option in options_of(words[3:]):
        assert option in known, (name, option)


def test_the_web_unit_runs_the_one_web_command_which_is_uvicorn_as_serve_runs_it():
    words = shlex.split(unit("telemed-web@.service")["Service"]["ExecStart"])
    assert words == [WEB_SCRIPT, "%i"]
    script = (DEPLOY / "bin" / "telemed-web").read_text()
    assert (DEPLOY / "bin" / "telemed-web").stat().st_mode & 0o111, "the web script must be executable"
    assert unit("telemed-web@.service")["Service"]["Environment"].startswith("PROMETHEUS_MULTIPROC_DIR=")
    exec_line = " ".join(script.split("exec ", 1)[1].replace("\\\n", " ").split())
    words = shlex.split(re.sub(r'"\$\{[A-Z_]+:-([^}]*)\}"', r"\1", exec_line.replace('"$port"', "8001")))
    assert words[:4] == [VENV_PYTHON, "-m", "uvicorn", "telemed.asgi:application"], words
    module, attribute = words[3].split(":")
    import importlib

    assert callable(getattr(importlib.import_module(module), attribute))
    known = help_of("-m", "uvicorn")
    for option in options_of(words[4:]):
        assert option in known, option
    # The options `serve` gives uvicorn hold in production too.
    from telemed.portal.management.commands import serve

    serve_source = pathlib.Path(serve.__file__).read_text()
    for option in ("--proxy-headers", "--no-access-log", "--lifespan", "--ws-max-size"):
        assert option in serve_source and option in words, option
    assert words[words.index("--ws-max-size") + 1] == str(1024 * 1024)


def test_no_other_file_of_deploy_runs_the_web_server():
    def commands(path: pathlib.Path) -> str:
        return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))

    others = [
        path for path in DEPLOY.rglob("*")
        if path.is_file() and path.name != "telemed-web" and path.suffix != ".md" and "uvicorn" in commands(path)
    ]  # fmt: skip
    assert not others, others


def site() -> str:
    return (DEPLOY / "nginx" / "telemed.conf").read_text()


def test_the_nginx_site_agrees_with_the_platform():
    from telemed.boxes.uploads import MAX_CHUNK_BYTES
    from telemed.dicom.receiving import MAX_CHUNK_BYTES as CD_CHUNK_BYTES
    from telemed.routing import websocket_urlpatterns

    text = site()
    (size,) = re.findall(r"client_max_body_size (\d+)m;", text)
    assert int(size) * 1024 * 1024 == max(MAX_CHUNK_BYTES, CD_CHUNK_BYTES)
    assert "proxy_request_buffering off;" in text
    routes = [str(route.pattern) for route in websocket_urlpatterns if str(route.pattern)]
    assert routes and all(route.startswith("ws/") for route in routes), routes
    websocket = text.split("location /ws/ {", 1)[1].split("}", 1)[0]
    for header in ("Upgrade $http_upgrade", "X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme", "Host $host"):
        assert f"proxy_set_header {header};" in websocket, header
    # The address is replaced, never appended to: a client's own X-Forwarded-For is not believed.
    assert "$proxy_add_x_forwarded_for" not in text
    assert re.search(r"location = /metrics \{\s*return 404;", text)
    upstreams = re.findall(r"server 127\.0\.0\.1:(\d+)", text)
    assert len(upstreams) >= 2, "several web processes"
    assert "listen 443 ssl http2;" in text


@pytest.mark.skipif(
    shutil.which("nginx") is None and not pathlib.Path("/usr/sbin/nginx").exists(), reason="nginx is not installed"
)
def test_nginx_accepts_the_site(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "telemed.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    text = site()
    text = re.sub(r"ssl_certificate \S+;", f"ssl_certificate {tmp_path / 'cert.pem'};", text)
    text = re.sub(r"ssl_certificate_key \S+;", f"ssl_certificate_key {tmp_path / 'key.pem'};", text)
    text = text.replace("/var/log/nginx/", f"{tmp_path}/")
    (tmp_path / "telemed.conf").write_text(text)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  fastcgi_temp_path {tmp_path}/fastcgi;\n  uwsgi_temp_path {tmp_path}/uwsgi;\n  scgi_temp_path {tmp_path}/scgi;\n"
        f"  include {tmp_path}/telemed.conf;\n}}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
