"""`make check` refuses each kind of fault it is there for: an unused import, an unformatted
file, a model changed without its migration, a type error in a service. Each test plants the
fault in a copy (never in the tree, which other tests read meanwhile), runs the command `make
check` runs on it, and runs it on the same copy without the fault, which passes: so the check
tells the two apart. The clean tree itself is `make check`'s own business (CI runs it first).

The checks read no database, so they run on the first stack only."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(connection.vendor == "postgresql", reason="checked once, on the first stack"),
    # mypy's cache is shared: one worker runs these one after the other.
    pytest.mark.xdist_group("make_check"),
]


def run(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def ruff_project(folder: Path, source: str) -> Path:
    """A project with the tree's ruff settings and one module."""
    folder.mkdir()
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    (folder / "module.py").write_text(source)
    return folder


def test_an_unused_import_fails_the_lint(tmp_path):
    clean = ruff_project(tmp_path / "clean", 'import os\n\nHOME = os.environ.get("HOME")\n')
    assert run("-m", "ruff", "check", "--no-cache", ".", cwd=clean).returncode == 0
    planted = ruff_project(tmp_path / "planted", 'import os\nimport sys\n\nHOME = os.environ.get("HOME")\n')
    result = run("-m", "ruff", "check", "--no-cache", ".", cwd=planted)
    assert result.returncode == 1 and "F401" in result.stdout, result.stdout


def test_an_unformatted_file_fails_the_format_check(tmp_path):
    clean = ruff_project(tmp_path / "clean", 'FEES = {"base": 40, "video": 60}\n')
    assert run("-m", "ruff", "format", "--check", "--no-cache", ".", cwd=clean).returncode == 0
    planted = ruff_project(tmp_path / "planted", "FEES = { 'base':40,'video' : 60 }\n")
    result = run("-m", "ruff", "format", "--check", "--no-cache", ".", cwd=planted)
    assert result.returncode == 1 and "module.py" in result.stdout, result.stdout


MAKEMIGRATIONS = """
import django, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "telemed.settings"
django.setup()
from django.core.management import call_command
from django.db import models
from telemed.care.models import CareLink
if sys.argv[1] == "planted":
    models.CharField("planted", max_length=20, default="").contribute_to_class(CareLink, "planted")
call_command("makemigrations", check=True, dry_run=True, verbosity=1)
"""


def test_a_model_changed_without_its_migration_fails_the_migrations_check(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["TELEMED_VAR_DIR"] = str(tmp_path)
    # The tree as it is: every model has its migration (the same command as `make check`).
    clean = run("manage.py", "makemigrations", "--check", "--dry-run", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # The same models, one of them with a field no migration creates.
    planted = run("-c", MAKEMIGRATIONS, "planted", env=env)
    assert planted.returncode == 1 and "planted" in planted.stdout, planted.stdout + planted.stderr


PLANTED_TYPE_ERROR = """

def care_link_count(*, patient: User) -> int:
    return CareLink.objects.filter(patient=patient)
"""


def test_a_type_error_in_a_service_fails_the_type_check(tmp_path):
    service = ROOT / "telemed" / "care" / "services.py"
    (tmp_path / "clean").mkdir()
    shutil.copy(service, tmp_path / "clean" / "services.py")
    clean = run("-m", "mypy", "--config-file", "pyproject.toml", str(tmp_path / "clean" / "services.py"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (tmp_path / "planted").mkdir()
    (tmp_path / "planted" / "services.py").write_text(service.read_text() + PLANTED_TYPE_ERROR)
    planted = run("-m", "mypy", "--config-file", "pyproject.toml", str(tmp_path / "planted" / "services.py"))
    assert planted.returncode == 1 and "[return-value]" in planted.stdout, planted.stdout + planted.stderr
