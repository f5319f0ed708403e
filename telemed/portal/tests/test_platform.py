"""The platform as a whole: health check, production settings, demo data, pages and headers."""

import os
import pathlib
import re
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.urls import reverse

from conftest import verified_client
from telemed.accounts.models import Role, User

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_healthz_reports_every_component(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["components"]) == {
        "web_server",
        "database",
        "cache",
        "channel_layer",
        "task_queue",
        "task_worker",
        "reminder_dispatcher",
    }
    assert all(component["ok"] for component in body["components"].values())


@pytest.mark.django_db
def test_healthz_is_503_when_the_cache_is_down(client, monkeypatch):
    from django.core.cache.backends.redis import RedisCache

    from telemed.portal import health

    # Nothing listens on port 1: the cache is down.
    monkeypatch.setattr(health, "cache", RedisCache("redis://127.0.0.1:1/0", {}))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["components"]["cache"]["ok"] is False and body["components"]["database"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_when_the_channel_layer_is_down(client, settings):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    channel_layers.backends.clear()
    try:
        response = client.get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    assert response.json()["components"]["channel_layer"]["ok"] is False


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    env = {
        **os.environ,
        "TELEMED_ENV": "production",
        "SECRET_KEY": "k3Jd9-vQ2mZr7!xLp0aW4sYbT6nE1cHu8gF5oR_iKqV-tPz-Lm3Nb8Xc",
        "ALLOWED_HOSTS": "telemed.example.org",
        "TELEMED_BASE_URL": "https://telemed.example.org",
        "EMAIL_URL": "smtp://mail.example.org:587",
        "TELEMED_VAR_DIR": str(tmp_path),
        **vapid_environment(),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests' own process only
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    cookies = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'telemed.settings'); "
         "django.setup(); from django.conf import settings as s; print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cookies.stdout.split() == ["__Host-sessionid", "__Host-csrftoken"], cookies.stderr


def vapid_environment() -> dict:
    """A VAPID key pair as production is given it (see README)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return {
        "TELEMED_VAPID_PUBLIC_KEY": base64.urlsafe_b64encode(public).rstrip(b"=").decode(),
        "TELEMED_VAPID_PRIVATE_KEY": base64.urlsafe_b64encode(private).rstrip(b"=").decode(),
        "TELEMED_VAPID_SUBJECT": "mailto:ops@example.org",
    }


def test_production_refuses_to_start_without_vapid_keys(tmp_path):
    env = {
        **os.environ, "TELEMED_ENV": "production", "TELEMED_VAR_DIR": str(tmp_path), "SECRET_KEY": "k" * 50,
        "EMAIL_URL": "smtp://mail.example.org:587",
    }  # fmt: skip
    for name in ("TELEMED_VAPID_PUBLIC_KEY", "TELEMED_VAPID_PRIVATE_KEY"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert (
        result.returncode != 0 and "TELEMED_VAPID_PUBLIC_KEY and TELEMED_VAPID_PRIVATE_KEY must be set" in result.stderr
    )


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**os.environ, "TELEMED_ENV": "production", "TELEMED_VAR_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_demo_data_is_complete_and_loading_twice_changes_nothing():
    call_command("load_demo", verbosity=0)
    snapshot = sorted(User.objects.values_list("email", "role", "password"))
    call_command("load_demo", verbosity=0)
    assert sorted(User.objects.values_list("email", "role", "password")) == snapshot
    roles = {email.split("@")[0]: role for email, role, _ in snapshot}
    assert roles["paziente"] == roles["paziente2"] == Role.PATIENT
    assert roles["medico"] == roles["medico2"] == Role.DOCTOR
    assert roles["segreteria"] == Role.SECRETARY
    assert roles["struttura"] == Role.STRUCTURE_MANAGER
    assert roles["staff"] == Role.STAFF
    doctors = User.objects.filter(role=Role.DOCTOR).select_related("doctor_profile")
    assert len({d.doctor_profile.practice_city for d in doctors}) >= 5
    assert doctors.filter(doctor_profile__structure__isnull=False).exists()
    assert User.objects.get(email="segreteria@demo.telemed.test").secretary_profile.doctors.exists()


@pytest.mark.django_db
def test_the_demo_patient_has_a_doctor_a_conversation_an_agenda_a_visit_and_a_signed_answer():
    from telemed.care.selectors import care_link_is_active
    from telemed.consults.models import Consult
    from telemed.messaging.models import Conversation
    from telemed.reminders.models import Reminder
    from telemed.visits.models import Booking

    call_command("load_demo", verbosity=0)

    def counts():
        return Conversation.objects.count(), Reminder.objects.count(), Booking.objects.count(), Consult.objects.count()

    before = counts()
    call_command("load_demo", verbosity=0)
    assert counts() == before  # a second run adds nothing
    patient, doctor = (User.objects.get(email=f"{name}@demo.telemed.test") for name in ("paziente", "medico"))
    assert care_link_is_active(doctor=doctor, patient=patient)
    assert Conversation.objects.filter(participants__user=patient).exists()
    assert (
        Reminder.objects.filter(patient=patient, doctor=doctor).exists()
        and Reminder.objects.filter(patient=patient, doctor=None).exists()
    )
    assert Booking.objects.filter(patient=patient, doctor=doctor).exists()
    answered = Consult.objects.get(patient=patient, status="answered")
    assert answered.report.status == "signed"


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["paziente", "medico", "segreteria", "struttura", "staff"])
def test_each_role_has_its_dashboard(email):
    call_command("load_demo", verbosity=0)
    user = User.objects.get(email=f"{email}@demo.telemed.test")
    response = verified_client(user).get(reverse("portal:dashboard"))  # doctors and staff with the demo authenticator
    assert response.status_code == 200
    assert response.templates[0].name == f"portal/dashboard_{user.role}.html"


@pytest.mark.django_db
def test_pages_carry_a_csp_without_inline_scripts(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script found"


def test_no_template_has_inline_scripts_styles_or_handlers():
    offenders = []
    for path in (ROOT / "telemed").rglob("templates/**/*.html"):
        text = path.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(r"\sstyle=\"|<style|\son[a-z]+=\"", text):
            if "500.html" not in path.name:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.django_db
def test_italian_by_default_and_english_on_request(client):
    assert 'lang="it"' in client.get("/").content.decode()
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert 'lang="en"' in client.get("/").content.decode()


@pytest.mark.django_db
def test_a_users_language_choice_is_kept_for_their_emails(client, make_patient):
    user = make_patient()
    client.force_login(user)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    user.refresh_from_db()
    assert user.language == "en"
    client.post(reverse("set_language"), {"language": "xx", "next": "/"})
    user.refresh_from_db()
    assert user.language == "en"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/medici/?q=" + "x" * 10000,
        "/medici/?q=%27%3B+DROP+TABLE+accounts_user%3B--&city=%00",
        "/medici/?page=99999999999999999999",
        "/medici/?page=-1&specialty=%3Cscript%3E",
        "/medici/no-such-doctor/",
        "/account/invitation/%2e%2e%2f/",
    ],
)
def test_nonsense_in_urls_never_gives_a_server_error(client, url):
    assert client.get(url).status_code in {200, 404}


def test_readme_documents_every_environment_variable():
    settings_source = (ROOT / "telemed" / "settings.py").read_text()
    serve_source = (ROOT / "telemed" / "portal" / "management" / "commands" / "serve.py").read_text()
    names = set(
        re.findall(r"""(?:environ\.get|env_bool|env_list)\(\s*["']([A-Z_]+)["']""", settings_source + serve_source)
    )
    readme = (ROOT / "README.md").read_text()
    assert names, "no variable found: the pattern no longer matches settings.py"
    names.discard("DJANGO_SETTINGS_MODULE")  # Django's own, not a telemed setting
    assert sorted(name for name in names if f"`{name}`" not in readme) == []


def test_italian_catalogue_is_complete():
    po = ROOT / "telemed" / "locale" / "it" / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


@pytest.mark.django_db(transaction=True)
def test_serve_runs_server_and_worker_and_ctrl_c_stops_both(tmp_path):
    import signal
    import time
    import urllib.request

    from django.db import connection

    from conftest import free_port

    port = free_port()
    db = connection.settings_dict
    database_url = (
        f"sqlite:///{db['NAME']}"
        if connection.vendor == "sqlite"
        else f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "DATABASE_POOL": "false", "TELEMED_VAR_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        commands = [pathlib.Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ") for pid in children]
        assert any("uvicorn" in c for c in commands) and any("task_worker" in c for c in commands), commands
        assert any("reminders_dispatch" in c for c in commands), commands
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0
        output = process.stdout.read()
        assert "telemed stopped." in output
        time.sleep(0.5)
        assert [pid for pid in children if os.path.exists(f"/proc/{pid}")] == []
    finally:
        if process.poll() is None:
            process.kill()
