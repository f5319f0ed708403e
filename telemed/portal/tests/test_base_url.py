"""Links that leave the site (e-mails, calendar feeds, signed PDFs) point where `make run` serves."""

import os
import pathlib
import re
import shlex
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[3]


def serve_command(*args: str, env_base_url: str | None = None) -> list[str]:
    """The words of the `serve` line `make run` would execute (dry run: nothing is started)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAKE") and key != "TELEMED_BASE_URL"}
    if env_base_url is not None:
        env["TELEMED_BASE_URL"] = env_base_url
    result = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "manage.py serve" in line)
    return shlex.split(line)


def test_make_run_on_another_port_sends_links_to_that_port():
    words = serve_command("PORT=8123")
    assert "TELEMED_BASE_URL=http://127.0.0.1:8123" in words
    assert words[words.index("--port") + 1] == "8123"
    assert "TELEMED_BASE_URL=http://0.0.0.0:9000" in serve_command("HOST=0.0.0.0", "PORT=9000")


def test_make_run_keeps_a_base_url_that_is_given():
    assert "TELEMED_BASE_URL=https://telemed.example.org" in serve_command(
        "PORT=8123", env_base_url="https://telemed.example.org"
    )
    assert "TELEMED_BASE_URL=https://other.example.org" in serve_command(
        "PORT=8123", "TELEMED_BASE_URL=https://other.example.org"
    )


def test_the_verification_email_links_to_the_configured_base_url(settings, make_patient, run_tasks, smtp_settings):
    settings.BASE_URL = "http://127.0.0.1:8123"
    make_patient(email="anna@example.test")
    run_tasks()
    body = smtp_settings.wait_for("anna@example.test").get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"https?://[^\s\"'<>]+", body)
    assert links and all(link.startswith("http://127.0.0.1:8123/") for link in links), links
