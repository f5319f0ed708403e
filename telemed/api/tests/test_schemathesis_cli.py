"""Schemathesis' own command line against the API served for real (a live server on the test
database), as a logged-in patient and as a logged-in doctor: every phase (examples, coverage,
fuzzing, stateful) with two examples each (the coverage phase adds its own). Its summary line is printed for the CI log."""

import subprocess
import sys
from pathlib import Path

import pytest

from telemed.api.tests.conftest import ALL_SCOPES, SCHEMATHESIS_CONFIG

pytestmark = pytest.mark.django_db(transaction=True)

ST = Path(sys.executable).with_name("st")


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_schemathesis_finds_nothing_against_the_running_api(
    role, live_server, consult_world, token_for, settings, tmp_path
):
    settings.API_RATE_LIMIT = settings.API_ANONYMOUS_RATE_LIMIT = "1000000/min"
    token = token_for(consult_world[role], ALL_SCOPES)
    run = subprocess.run(
        [str(ST), "--config-file", str(SCHEMATHESIS_CONFIG), "run", f"{live_server.url}/api/v1/openapi.json", "--header", f"Authorization: Bearer {token}",
         "--max-examples", "2", "--no-color", "--workers", "1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,  # its cache stays out of the tree
    )  # fmt: skip
    summary = [line for line in run.stdout.splitlines() if line.startswith("=") and " in " in line]
    print(
        f"schemathesis as the {role}:",
        *summary[-1:],
        *[line.strip() for line in run.stdout.splitlines() if "generated" in line],
    )
    assert run.returncode == 0, run.stdout[-4000:]
