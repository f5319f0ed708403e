"""Benchmark of reminder delivery on PostgreSQL: a million active reminders, ten thousand of
them due in the same minute.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_reminders make bench NAME=reminders

(REDIS_URL is optional: with it, notify() checks presence and pushes through Redis as in
production; without it, through the in-process cache and channel layer.)

One run:
1. recreates the database named in DATABASE_URL (only if its name contains "bench") and
   migrates it; creates 20,000 patients and 200 doctors, each patient linked to a doctor;
2. creates 1,000,000 active reminders with a realistic mix of rules (daily at one to three
   times, with an end date or a number of days, chosen weekdays, fortnightly, every few days,
   monthly on a date or on "the first Monday", single appointments, doctors' follow-ups),
   with COPY; the rule, its bounds and its next occurrence are computed by telemed's own code
   for each distinct rule and start day. Timed: create_s. 10,000 of them are "every day at
   HH:MM" therapies: the burst;
3. for 1, 2 and 4 processes of the real `manage.py reminders_dispatch`: moves the burst's
   HH:MM to the next whole minute T (T is a true occurrence of their rule), starts the
   processes before T, and waits until all 10,000 occurrences are recorded and notified.
   Measures the dispatch lag (T → delivery record's created_at) p50/p99, delivery records
   per second, the notification lag and notifications per second, and the peak RSS of a
   dispatcher (VmHWM). Between runs, the run's deliveries, notifications and queued e-mails
   are deleted;
4. once more with one dispatcher and two task workers (``manage.py task_worker``) sending the
   burst's e-mails to a real SMTP server (aiosmtpd) on a loopback port: the notification lag as in
   production, where workers share the cores, and the e-mail lag (T → the SMTP server has the
   message) p50/p99 and e-mails per second;
5. the baseline, in the same run: the same 10,000 claimed and recorded by a bare SQL loop
   (psycopg, one statement per batch of 500, no Django, no recurrence rule: next_fire_at + 1
   day) in one process — the database's own cost of the same claim/insert/advance;
6. prints everything and ends with `RESULT reminders reminders=… p50_lag_ms=… p99_lag_ms=…
   per_s_1=… per_s_2=… per_s_4=… create_s=… peak_rss_mb=… …` (the lag figures of RESULT
   are those of one dispatcher, as `serve` starts it).

Everything runs on 127.0.0.1; each run waits at most RUN_TIMEOUT seconds after T (what was not
notified by then is reported as such).
"""

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time

from harness import (
    ROOT,
    free_port,
    load_average,
    peak_rss_mb,
    percentile,
    require_scalable_stack,
    setup_django_on_new_database,
    stop_processes,
)

REMINDERS = 1_000_000
BURST = 10_000
PATIENTS = 20_000
DOCTORS = 200
WORKERS = (1, 2, 4)
RUN_TIMEOUT = 60  # the whole benchmark must stay under 10 minutes on 2 cores
EMAIL_WORKERS = 2
EMAIL_TIMEOUT = 300  # the e-mails of a burst, handed to the SMTP server
EMAIL_TASK = "telemed.notifications.tasks.send_notification_emails"
VARIANTS_PER_WEIGHT = 20
LEAD_SECONDS = 3  # T is at least this long after the dispatchers are up


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=REMINDERS)
    parser.add_argument("--burst", type=int, default=BURST)
    parser.add_argument("--patients", type=int, default=PATIENTS)
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKERS))
    return parser.parse_args()


def create_people(patients: int) -> tuple[list[int], dict[int, int]]:
    """Patients and doctors; every patient linked (with consent) to one doctor."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from telemed.accounts.models import Role, User
    from telemed.care.models import CareLink, LinkStatus

    password = make_password("bench-password-2026")
    User.objects.bulk_create(
        [User(email=f"p{n}@bench.test", first_name="Paziente", last_name=f"N{n}", role=Role.PATIENT, password=password)
         for n in range(patients)], batch_size=5000,
    )  # fmt: skip
    User.objects.bulk_create(
        [User(email=f"d{n}@bench.test", first_name="Medico", last_name=f"N{n}", role=Role.DOCTOR, password=password)
         for n in range(DOCTORS)], batch_size=5000,
    )  # fmt: skip
    patient_ids = list(User.objects.filter(role=Role.PATIENT).order_by("pk").values_list("pk", flat=True))
    doctor_ids = list(User.objects.filter(role=Role.DOCTOR).order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    doctor_of = {patient: doctor_ids[n % len(doctor_ids)] for n, patient in enumerate(patient_ids)}
    CareLink.objects.bulk_create(
        [CareLink(doctor_id=doctor, patient_id=patient, status=LinkStatus.ACTIVE, consent_text="bench",
                  consented_at=now, activated_at=now) for patient, doctor in doctor_of.items()], batch_size=5000,
    )  # fmt: skip
    return patient_ids, doctor_of


# --- the mix of rules ---------------------------------------------------------------------


def quiet_times(now_local: dt.datetime) -> list[str]:
    """Times of the day that nothing but the burst uses while the benchmark runs (it lasts < 15 min)."""
    busy_from, busy_to = now_local - dt.timedelta(minutes=10), now_local + dt.timedelta(minutes=30)
    candidates = [f"{h:02d}:{m:02d}" for h in range(6, 23) for m in (0, 15, 30, 45)]

    def busy(text: str) -> bool:
        for day in (now_local.date(), now_local.date() + dt.timedelta(days=1)):
            moment = dt.datetime.combine(day, dt.time.fromisoformat(text))
            if busy_from <= moment <= busy_to:
                return True
        return False

    return [t for t in candidates if not busy(t)]


def rule_mix(times: list[str], rng: random.Random):
    """(weight, kind, from a doctor?, builder(start_day) → Recurrence) — what a health agenda holds."""
    from telemed.reminders.recurrence import Recurrence

    def at(*chosen):
        return tuple(dt.time.fromisoformat(t) for t in chosen)

    morning = [t for t in times if t < "12:00"] or times
    evening = [t for t in times if t >= "17:00"] or times
    afternoon = [t for t in times if "12:00" <= t < "17:00"] or times
    return [
        (25, "therapy", False, lambda d: Recurrence(start=d, times=at(rng.choice(times)), frequency="daily")),
        (15, "therapy", False, lambda d: Recurrence(start=d, times=at(rng.choice(morning), rng.choice(evening)),
                                                     frequency="daily", until=d + dt.timedelta(days=rng.randint(100, 400)))),
        (8, "therapy", False, lambda d: Recurrence(start=d, times=at(rng.choice(morning), rng.choice(afternoon), rng.choice(evening)),
                                                    frequency="daily", count=rng.randint(100, 300))),
        (12, "therapy", False, lambda d: Recurrence(start=d, times=at(rng.choice(times)), frequency="weekly",
                                                     weekdays=tuple(rng.sample(range(7), rng.randint(1, 3))))),
        (5, "other", False, lambda d: Recurrence(start=d, times=at(rng.choice(times)), frequency="weekly", interval=2,
                                                  weekdays=(rng.randrange(7),))),
        (5, "therapy", False, lambda d: Recurrence(start=d, times=at(rng.choice(times)), frequency="daily",
                                                    interval=rng.choice((2, 3)))),
        (10, "follow_up", False, lambda d: Recurrence(start=d, times=at(rng.choice(times)), frequency="monthly")),
        (5, "appointment", False, lambda d: Recurrence(start=d, times=at(rng.choice(times)), frequency="monthly",
                                                        monthly_mode="weekday", count=rng.randint(6, 24))),
        (10, "appointment", False, lambda d: Recurrence(start=d + dt.timedelta(days=rng.randint(91, 150)),
                                                         times=at(rng.choice(times)), frequency="once")),
        (5, "follow_up", True, lambda d: Recurrence(start=d, times=at(rng.choice(times)), frequency="monthly", interval=3)),
    ]  # fmt: skip


TITLES = {
    "therapy": ["Cardioaspirin 100 mg", "Eutirox 50", "Metformina 500", "Ramipril 5 mg", "Vitamina D", "Insulina"],
    "appointment": ["Visita cardiologica", "Esami del sangue", "Ecografia", "Dentista"],
    "follow_up": ["Controllo pressione", "Controllo glicemia", "Peso e misure"],
    "other": ["Cambio medicazione", "Rinnovo ricetta"],
}
COLUMNS = (
    "patient_id", "doctor_id", "kind", "title", "notes", "start_date", "times", "frequency", "interval", "weekdays",
    "monthly_mode", "until", "count", "rrule", "starts_at", "ends_before", "next_fire_at", "stop_reason",
    "created_at", "updated_at",
)  # fmt: skip


def series_fields(recurrence, now: dt.datetime) -> dict | None:
    """What telemed stores for a recurrence (services._series_fields), or None if nothing is left of it."""
    from telemed.reminders.schedule import Series, bounds

    recurrence = recurrence.validate()
    starts_at, ends_before = bounds(recurrence)
    stored = recurrence.stored()
    series = Series(rrule=stored["rrule"], times=recurrence.times, start_date=recurrence.start, starts_at=starts_at,
                    ends_before=ends_before)  # fmt: skip
    next_fire_at = series.after(now)
    if next_fire_at is None:
        return None
    return {**stored, "starts_at": starts_at, "ends_before": ends_before, "next_fire_at": next_fire_at}


def create_reminders(database_url: str, count: int, burst: int, patient_ids: list[int], doctor_of: dict[int, int],
                     burst_time: str) -> tuple[float, list[int]]:  # fmt: skip
    """COPY ``count`` reminders, the first ``burst`` of them going off today at ``burst_time``; returns the
    seconds it took and the ids of the burst."""
    import psycopg
    from django.utils import timezone

    from telemed.reminders.recurrence import Recurrence

    rng = random.Random(2026)
    now = timezone.now()
    today = timezone.localdate()
    mix = rule_mix(quiet_times(timezone.localtime().replace(tzinfo=None)), rng)

    def fields_for(template: int, day_offset: int) -> dict:
        """One variant (its own times, weekdays…) of a rule template starting ``day_offset`` days ago."""
        builder = mix[template][3]
        while (fields := series_fields(builder(today - dt.timedelta(days=day_offset)), now)) is None:
            pass
        return fields

    # The burst: rules that all go off today, at the burst's time of the day.
    burst_time_of_day = (dt.time.fromisoformat(burst_time),)
    burst_rules = [
        Recurrence(start=today - dt.timedelta(days=30), times=burst_time_of_day, frequency="daily"),
        Recurrence(start=today - dt.timedelta(days=30), times=burst_time_of_day, frequency="daily"),
        Recurrence(start=today - dt.timedelta(days=21), times=burst_time_of_day, frequency="weekly",
                   weekdays=(today.weekday(), (today.weekday() + 3) % 7)),
        Recurrence(start=today - dt.timedelta(days=20), times=burst_time_of_day, frequency="daily", interval=2),
        Recurrence(start=today - dt.timedelta(days=14), times=burst_time_of_day, frequency="daily",
                   until=today + dt.timedelta(days=30)),
    ]  # fmt: skip

    def copy_text(value) -> str:
        """A value in COPY's text format (none of ours holds a tab, a newline or a backslash)."""
        if value is None:
            return "\\N"
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        return str(value)

    def columns_of(fields: dict) -> str:
        """The stored columns after patient, doctor, kind and title, as COPY text (one per variant, reused)."""
        values = (
            "", fields["start_date"], json.dumps(fields["times"]), fields["frequency"], fields["interval"],
            json.dumps(fields["weekdays"]), fields["monthly_mode"], fields["until"], fields["count"], fields["rrule"],
            fields["starts_at"], fields["ends_before"], fields["next_fire_at"], "", now, now,
        )  # fmt: skip
        return "\t".join(copy_text(v) for v in values)

    started = time.perf_counter()
    burst_columns = [columns_of(series_fields(rule, now)) for rule in burst_rules]
    # The mix: VARIANTS_PER_WEIGHT distinct rules (own times, weekdays, start day…) per unit of a template's
    # weight, computed once each by telemed's code; the rows then cycle through them.
    pool = []
    for template, (weight, kind, from_doctor, _) in enumerate(mix):
        for _ in range(weight * VARIANTS_PER_WEIGHT):
            pool.append((kind, from_doctor, columns_of(fields_for(template, rng.randrange(90)))))
    rng.shuffle(pool)
    with psycopg.connect(database_url) as connection:
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY reminders_reminder ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            lines = []
            for n in range(count):
                patient = patient_ids[n % len(patient_ids)]
                if n < burst:
                    columns = burst_columns[n % len(burst_columns)]
                    lines.append(f"{patient}\t\\N\ttherapy\t{TITLES['therapy'][n % 6]}\t{columns}\n")
                else:
                    kind, from_doctor, columns = pool[(n * 7919) % len(pool)]
                    doctor = doctor_of[patient] if from_doctor else "\\N"
                    titles = TITLES[kind]
                    lines.append(f"{patient}\t{doctor}\t{kind}\t{titles[n % len(titles)]}\t{columns}\n")
                if len(lines) >= 20_000:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        connection.execute("ANALYZE reminders_reminder")
        connection.commit()
        elapsed = time.perf_counter() - started
        burst_ids = [
            r[0] for r in connection.execute("SELECT id FROM reminders_reminder ORDER BY id LIMIT %s", [burst])
        ]
        active = connection.execute(
            "SELECT count(*) FROM reminders_reminder WHERE next_fire_at IS NOT NULL"
        ).fetchone()[0]
    print(
        f"created {active:,} active reminders ({len(pool)} distinct rules, start days and times) in {elapsed:.1f} s",
        flush=True,
    )
    return elapsed, burst_ids


# --- runs ---------------------------------------------------------------------------------


def reset(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        for table in ("reminders_delivery", "notifications_notification", "django_tasks_database_dbtaskresult"):
            connection.execute(f"DELETE FROM {table}")
        connection.execute("VACUUM ANALYZE reminders_delivery")


def schedule_burst(database_url: str, burst_ids: list[int]) -> dt.datetime:
    """Move the burst to the next whole minute T, at least LEAD_SECONDS away: T is an occurrence of their rule."""
    import psycopg

    from telemed.reminders.schedule import ROME, UTC

    soon = dt.datetime.now(UTC) + dt.timedelta(seconds=LEAD_SECONDS)
    due = (soon + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    local_time = due.astimezone(ROME).strftime("%H:%M")
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE reminders_reminder SET times = %s::jsonb, next_fire_at = %s WHERE id = ANY(%s)",
            [json.dumps([local_time]), due, burst_ids],
        )
    return due


def connected(database_url: str) -> int:
    """Sessions open on the benchmark's database, besides the one asking."""
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def progress(database_url: str, due: dt.datetime, burst_ids: list[int]) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT count(*), count(sent_at) FROM reminders_delivery WHERE occurrence = %s AND reminder_id = ANY(%s)",
            [due, burst_ids],
        ).fetchone()


def lags(database_url: str, due: dt.datetime, burst_ids: list[int]) -> tuple[list[float], list[float]]:
    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT extract(epoch FROM created_at - occurrence), extract(epoch FROM sent_at - occurrence) "
            "FROM reminders_delivery WHERE occurrence = %s AND reminder_id = ANY(%s)",
            [due, burst_ids],
        ).fetchall()
    return [float(r[0]) for r in rows], [float(r[1]) for r in rows if r[1] is not None]


class SmtpArrivals:
    """A real SMTP server (aiosmtpd) on a loopback port that notes when each message arrives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.times: list[float] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.times.append(time.time())
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"


def emails_queued(database_url: str) -> int:
    """How many e-mails the burst's e-mail tasks carry (a task e-mails a batch of notifications)."""
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT coalesce(sum(jsonb_array_length(args_kwargs->'kwargs'->'notification_ids')), 0)"
            " FROM django_tasks_database_dbtaskresult WHERE task_path = %s",
            [EMAIL_TASK],
        ).fetchone()[0]


def run(
    label: str,
    commands: list[list[str]],
    database_url: str,
    burst_ids: list[int],
    smtp: SmtpArrivals | None = None,
) -> dict:
    reset(database_url)
    env = {**os.environ, "TELEMED_LOG_LEVEL": "WARNING", "TELEMED_DEBUG": "false", "PYTHONUNBUFFERED": "1"}
    if smtp is not None:
        env["EMAIL_URL"] = smtp.url
        smtp.times.clear()
    already = connected(database_url)
    processes = [subprocess.Popen(command, cwd=ROOT, env=env) for command in commands]
    try:
        # The burst is scheduled once every process is up and has looked at the database.
        deadline = time.monotonic() + 120
        while connected(database_url) < already + len(processes):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                sys.exit(f"{label}: the processes did not start")
            time.sleep(0.2)
        due = schedule_burst(database_url, burst_ids)
        while dt.datetime.now(dt.UTC) < due:
            time.sleep(0.2)
        deadline = time.monotonic() + RUN_TIMEOUT
        recorded = sent = 0
        while time.monotonic() < deadline:
            recorded, sent = progress(database_url, due, burst_ids)
            if sent >= len(burst_ids) or (label == "bare" and recorded >= len(burst_ids)):
                break
            if any(p.poll() is not None for p in processes):
                sys.exit(f"{label}: a process exited early")
            time.sleep(0.25)
        if smtp is not None:
            # Every e-mail the burst queued, handed to the SMTP server (or the time is up).
            expected, deadline = emails_queued(database_url), time.monotonic() + EMAIL_TIMEOUT
            while len(smtp.times) < expected and time.monotonic() < deadline:
                time.sleep(0.5)
        rss = peak_rss_mb([p.pid for p in processes])
    finally:
        stop_processes(*processes)
    record_lags, send_lags = lags(database_url, due, burst_ids)
    result = {
        "recorded": len(record_lags),
        "sent": len(send_lags),
        "p50_ms": statistics.median(record_lags) * 1000 if record_lags else float("nan"),
        "p99_ms": percentile(record_lags, 0.99) * 1000,
        "per_s": len(record_lags) / max(record_lags) if record_lags else 0.0,
        "send_p50_ms": statistics.median(send_lags) * 1000 if send_lags else float("nan"),
        "send_p99_ms": percentile(send_lags, 0.99) * 1000,
        "sent_per_s": len(send_lags) / max(send_lags) if send_lags else 0.0,
        "rss_mb": rss,
    }
    if smtp is not None:
        email_lags = [arrived - due.timestamp() for arrived in smtp.times]
        result.update(
            emails=len(email_lags),
            emails_expected=expected,
            email_p50_ms=statistics.median(email_lags) * 1000 if email_lags else float("nan"),
            email_p99_ms=percentile(email_lags, 0.99) * 1000 if email_lags else float("nan"),
            emails_per_s=len(email_lags) / max(email_lags) if email_lags else 0.0,
        )
        print(
            f"{'':>12}  e-mails: {len(email_lags):,} of {expected:,} at the SMTP server — lag p50 "
            f"{result['email_p50_ms']:.0f} ms, p99 {result['email_p99_ms']:.0f} ms, {result['emails_per_s']:.0f}/s",
            flush=True,
        )
    complete = (
        ""
        if result["recorded"] == len(burst_ids) and (label == "bare" or result["sent"] == len(burst_ids))
        else "  (INCOMPLETE)"
    )
    print(
        f"{label:>12}: recorded {result['recorded']:,} — lag p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
        f"{result['per_s']:.0f}/s"
        + ("" if label == "bare" else
           f"; notified {result['sent']:,} — lag p50 {result['send_p50_ms']:.0f} ms, p99 {result['send_p99_ms']:.0f} ms, "
           f"{result['sent_per_s']:.0f}/s; peak RSS {rss:.0f} MB")
        + complete,
        flush=True,
    )  # fmt: skip
    return result


BARE_DISPATCHER = r"""
import sys, time, psycopg
CLAIM = '''
WITH due AS (
    SELECT id, next_fire_at FROM reminders_reminder WHERE next_fire_at <= now()
    ORDER BY next_fire_at LIMIT 500 FOR UPDATE SKIP LOCKED
), recorded AS (
    INSERT INTO reminders_delivery (reminder_id, occurrence, status, late, created_at)
    SELECT id, next_fire_at, 'pending', false, clock_timestamp() FROM due ON CONFLICT DO NOTHING
)
UPDATE reminders_reminder AS r SET next_fire_at = due.next_fire_at + interval '1 day' FROM due WHERE r.id = due.id
'''
with psycopg.connect(sys.argv[1]) as connection:
    while True:
        with connection.transaction():
            claimed = connection.execute(CLAIM).rowcount
        if not claimed:
            time.sleep(0.05)
"""


def main() -> None:
    args = parse_args()
    database_url, _ = require_scalable_stack()
    started = time.monotonic()
    print(f"load average: {load_average()}", flush=True)
    print(f"preparing the database, {args.patients:,} patients and {DOCTORS} doctors …", flush=True)
    setup_django_on_new_database(database_url)
    from django.utils import timezone

    patient_ids, doctor_of = create_people(args.patients)
    from django.db import connections

    connections.close_all()
    # The burst's rule is "every day at HH:MM"; HH:MM moves to the minute of each run.
    placeholder = (timezone.localtime() - dt.timedelta(hours=3)).strftime("%H:%M")
    print(f"creating {args.reminders:,} reminders …", flush=True)
    create_s, burst_ids = create_reminders(
        database_url, args.reminders, args.burst, patient_ids, doctor_of, placeholder
    )

    manage = [sys.executable, "manage.py", "reminders_dispatch"]
    results = {
        n: run(f"{n} process{'es' if n > 1 else ''}", [manage] * n, database_url, burst_ids) for n in args.workers
    }
    worker = [sys.executable, "manage.py", "task_worker", "--interval", "1", "--no-reload"]
    with SmtpArrivals() as smtp:
        mailed = run("1 + e-mails", [manage, *[worker] * EMAIL_WORKERS], database_url, burst_ids, smtp)
    bare = run("bare", [[sys.executable, "-c", BARE_DISPATCHER, database_url]], database_url, burst_ids)

    print(f"load average at the end: {load_average()} (other work on the machine counts)")
    first = results[args.workers[0]]
    ratio = first["per_s"] / bare["per_s"] if bare["per_s"] else float("nan")
    peak = max(r["rss_mb"] for r in results.values())
    print(
        f"targets: p99 lag < 5000 ms for the burst, throughput growing with workers, creation < 120 s; "
        f"telemed / bare SQL (1 process): {ratio:.3f}; machine: {os.cpu_count()} cores shared by the dispatchers, "
        f"PostgreSQL and this script",
        flush=True,
    )  # fmt: skip
    per_s = " ".join(f"per_s_{n}={r['per_s']:.0f}" for n, r in results.items())
    sent_per_s = " ".join(f"sent_per_s_{n}={r['sent_per_s']:.0f}" for n, r in results.items())
    p99s = " ".join(f"p99_lag_ms_{n}={r['p99_ms']:.0f}" for n, r in results.items())
    print(f"benchmark time: {time.monotonic() - started:.0f} s", flush=True)
    print(
        f"RESULT reminders reminders={args.reminders} burst={args.burst} p50_lag_ms={first['p50_ms']:.0f} "
        f"p99_lag_ms={first['p99_ms']:.0f} {per_s} create_s={create_s:.1f} peak_rss_mb={peak:.0f} "
        f"{p99s} {sent_per_s} p99_notify_lag_ms={first['send_p99_ms']:.0f} "
        f"p99_notify_lag_ms_with_workers={mailed['send_p99_ms']:.0f} p99_email_lag_ms={mailed['email_p99_ms']:.0f} "
        f"emails={mailed['emails']} emails_per_s={mailed['emails_per_s']:.0f} "
        f"bare_per_s={bare['per_s']:.0f} ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
