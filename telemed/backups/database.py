"""The database half of a backup: one consistent snapshot, dumped; restored into a new database.

Rules and decisions:
- PostgreSQL: a REPEATABLE READ, READ ONLY transaction exports its snapshot
  (``pg_export_snapshot``) and ``pg_dump --snapshot`` dumps exactly that state (custom format),
  while the same transaction reads the stored-file references and the figures the restore will
  compare. Writers are never blocked.
- SQLite: the online backup API (``sqlite3.Connection.backup``) copies the live file page by page
  into a consistent copy; the references and figures are then read from the copy, so they are of
  the same moment.
- A restore goes into a new, empty database only (PostgreSQL: no table in its public schema;
  SQLite: a file that does not exist yet). It never overwrites a database in use.
- The restored database is read through a temporary connection alias, so the checks use the same
  ORM queries on it as on the live one.
"""

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dj_database_url
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections, transaction
from django.db.utils import load_backend


class DatabaseError(Exception):
    """A dump or a restore that cannot go on, with what the operator should know."""


def engine(settings_dict: dict) -> str:
    name = settings_dict["ENGINE"].rsplit(".", 1)[-1]
    if name not in {"postgresql", "sqlite3"}:
        raise DatabaseError(f"backups support PostgreSQL and SQLite, not {settings_dict['ENGINE']}")
    return name


def _pg_command(program: str, settings_dict: dict) -> tuple[list[str], dict]:
    binary = shutil.which(program)
    if binary is None:
        raise DatabaseError(f"{program} is not installed (Debian: apt-get install postgresql-client)")
    args = [binary]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings_dict.get(key):
            args += [flag, str(settings_dict[key])]
    env = {**os.environ}
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    return args, env


def _run(args: list[str], env: dict) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise DatabaseError(f"{Path(args[0]).name} failed: {done.stderr.strip() or done.returncode}")


def _sqlite_copy(source_path: Path, target_path: Path) -> None:
    """A consistent copy of a live SQLite database (its online backup API, WAL included)."""
    source, copy = sqlite3.connect(source_path), sqlite3.connect(target_path)
    try:
        with copy:
            source.backup(copy)
    finally:
        copy.close()
        source.close()


@contextlib.contextmanager
def snapshot(target: Path) -> Iterator[str]:
    """Dump the live database into ``target`` and yield the alias whose reads see the dumped state."""
    settings_dict = connections[DEFAULT_DB_ALIAS].settings_dict
    if engine(settings_dict) == "sqlite3":
        _sqlite_copy(Path(settings_dict["NAME"]), target)
        with opened(f"sqlite:///{target}") as alias:
            yield alias
        return
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot_id = cursor.fetchone()[0]
        args, env = _pg_command("pg_dump", settings_dict)
        _run(args + ["--format=custom", f"--snapshot={snapshot_id}", f"--file={target}", settings_dict["NAME"]], env)
        yield DEFAULT_DB_ALIAS


def restore(dump: Path, dump_engine: str, database_url: str) -> None:
    """Load ``dump`` into the new, empty database at ``database_url``."""
    try:
        settings_dict = dj_database_url.parse(database_url)
    except ValueError as error:
        raise DatabaseError(f"--database-url cannot be read: {error}") from error
    if engine(settings_dict) != dump_engine:
        raise DatabaseError(
            f"this backup is of a {dump_engine} database; --database-url names a {settings_dict['ENGINE']} one"
        )
    if dump_engine == "sqlite3":
        target = Path(settings_dict["NAME"])
        if target.exists():
            raise DatabaseError(f"{target} exists: a restore goes into a new database file only")
        try:
            _sqlite_copy(dump, target)
        except sqlite3.Error as error:
            raise DatabaseError(f"cannot write {target}: {error}") from error
        return
    try:
        with opened(database_url) as alias, connections[alias].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            tables = cursor.fetchone()[0]
    except OperationalError as error:
        raise DatabaseError(f"cannot connect to the new database (create it first): {error}") from error
    if tables:
        raise DatabaseError(
            f"database {settings_dict['NAME']} has tables: a restore goes into a new, empty database only"
        )
    args, env = _pg_command("pg_restore", settings_dict)
    _run(args + ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                 f"--dbname={settings_dict['NAME']}", str(dump)], env)  # fmt: skip


@contextlib.contextmanager
def opened(database_url: str) -> Iterator[str]:
    """A temporary connection alias for the database at ``database_url``, in this thread only (not
    one of settings.DATABASES: nothing else sees it)."""
    alias = f"backups_{os.getpid()}_{id(database_url)}"
    default = dict(connections.settings[DEFAULT_DB_ALIAS])
    settings_dict = connections.configure_settings(
        {DEFAULT_DB_ALIAS: default, alias: dj_database_url.parse(database_url)}
    )
    connections[alias] = load_backend(settings_dict[alias]["ENGINE"]).DatabaseWrapper(settings_dict[alias], alias)
    try:
        yield alias
    finally:
        with contextlib.suppress(Exception):
            connections[alias].close()
        del connections[alias]
