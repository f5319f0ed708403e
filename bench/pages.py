"""Benchmark of the pages each role opens most, on PostgreSQL + Redis, over HTTP against the real server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_pages \\
    REDIS_URL=redis://127.0.0.1:6379/6 make bench NAME=pages

One run (a few minutes):
1. (re)creates the database named in DATABASE_URL (only if its name contains "bench"), migrates
   it and loads the demo data (``load_demo``);
2. makes it a hundred times the demo's size, through the same services the pages use: 99 more
   patients in care with medico@, each with a consult, an Info request, a conversation, a
   delivered service, a document and a therapy reminder; and paziente@'s own activity a hundred
   times over (consults, conversations, Welbox documents, payment requests; her reminders stay
   the demo's three: a person takes a few medicines, not a hundred);
3. starts the real platform (``manage.py serve --no-worker``) on a loopback port and logs a
   keep-alive client in as each demo role (past the second factor);
4. 16 concurrent clients open the ten pages each role opens most (dashboards, consult list and
   detail, Welbox, agenda, conversations, payments, tariffs) and, in alternating windows of the
   same run, the trivial ``/ping`` view as the baseline;
5. prints the p95 of every page, then ``RESULT pages p95_ms=… rps=… ping_rps=… ratio=… pages=…``.

All traffic goes to 127.0.0.1. Targets: p95 under 100 ms; pages at least 30% of /ping's throughput.
"""

import argparse
import asyncio
import datetime
import os
import random
import signal
import time
import uuid

from directory import _read_response, tune_database
from harness import (
    ROOT,
    fail,
    free_port,
    load_average,
    login_session,
    percentile,
    require_scalable_stack,
    scratch_platform,
    setup_django_on_scratch,
    start_platform,
    stop_processes,
)

CLIENTS = 16
SCALE = 100  # the demo's data, this many times over
SEED = 2026
DOMAIN = "demo.telemed.test"


# --- the data ----------------------------------------------------------------------------------------------


def _key(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"telemed-bench-pages:{name}")


def seed(scale: int) -> None:
    """The demo data, then ``scale`` times over, through the platform's own services."""
    from django.core.management import call_command

    from telemed.accounts import services as accounts
    from telemed.accounts.models import User
    from telemed.billing import payments, pricing, proformas
    from telemed.care import services as care
    from telemed.consults import info_requests as consult_info_requests
    from telemed.consults import services as consults
    from telemed.messaging import services as messaging
    from telemed.portal.management.commands.load_demo import _demo_upload, demo_codice_fiscale, demo_text_pdf
    from telemed.reminders import services as reminders
    from telemed.reminders.recurrence import Frequency, Recurrence

    call_command("load_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    users = {local: User.objects.get(email=f"{local}@{DOMAIN}") for local in ("paziente", "medico", "medico2")}
    patient, doctor = users["paziente"], users["medico"]
    rng = random.Random(SEED)
    now = datetime.datetime.now(datetime.UTC)
    today = now.date()
    pdf = demo_text_pdf("Referto", ["Esame nella norma.", "Controllo tra sei mesi."])

    def ask(who, n: int, text: str):
        draft = consults.ConsultDraft(
            kind="base", question=text, accepted_terms=True, idempotency_key=_key(f"{who.pk}:{n}")
        )
        return consults.consult_request(actor=who, doctor=doctor.doctor_profile, draft=draft)[0]

    def deliver(who, n: int):
        return proformas.billable_service_register(
            doctor=doctor.doctor_profile, patient=who, kind="base", duration_minutes=None,
            breakdown=pricing.price_service(doctor=doctor.doctor_profile, kind="base", duration=None),
            accepted_at=now - datetime.timedelta(days=n % 60, hours=2), delivered_at=now - datetime.timedelta(days=n % 60),
            source_label=f"Consulto {n}", source_key=f"bench:{who.pk}:{n}",
        )  # fmt: skip

    def therapy(who, n: int):
        reminders.reminder_create(
            actor=doctor, patient=who, text=reminders.ReminderText(kind="therapy", title=f"Farmaco {n}", notes="Una compressa."),
            recurrence=Recurrence(start=today, times=(datetime.time(8 + n % 12),), frequency=Frequency.DAILY, until=today + datetime.timedelta(days=90)),
        )  # fmt: skip

    # 99 more patients in care with medico@, each with what the demo's patients have.
    for n in range(1, scale):
        birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randint(0, 20000))
        sex = rng.choice("MF")
        other = accounts.patient_register(
            person=accounts.Person(f"paziente-bench-{n}@{DOMAIN}", "a-bench-password-2026", "Paola" if sex == "F" else "Paolo", f"Bench{n}"),
            identity=accounts.Identity(
                codice_fiscale=demo_codice_fiscale(f"Bench{n}", "Paolo", birth, sex, "F205"), birth_date=birth, sex=sex,
                phone=f"+39 333 {n:07d}",
            ),
        )  # fmt: skip
        link = care.care_request(actor=other, doctor=doctor, message="Sono in cura presso il suo studio.")
        care.care_accept(actor=doctor, link=link)
        conversation = messaging.conversation_start_with_patient(
            actor=doctor,
            patient=other,
            subject=f"Controllo {n}",
            allow_replies=True,
            text="Buongiorno, come va la pressione?",
        )
        messaging.message_send(actor=other, conversation=conversation, text="Bene, grazie: 125/80.")
        consult = ask(other, 0, "Ho un dolore al petto quando salgo le scale: devo preoccuparmi?")
        if n % 2:
            consults.consult_start(actor=doctor, consult=consult)
            consults.consult_message_send(actor=doctor, consult=consult, text="Da quanto tempo?")
        consult_info_requests.info_request_send(
            actor=other,
            doctor=doctor.doctor_profile,
            text="Lo studio è aperto il sabato?",
            idempotency_key=_key(f"info:{n}"),
        )
        deliver(other, n)
        _demo_upload(other, f"Referto {n}.pdf", "report", pdf)
        therapy(other, n)

    # paziente@'s own activity, a hundred times over.
    for n in range(1, scale):
        consult = ask(patient, n, f"Domanda numero {n}: ho di nuovo la pressione alta al mattino, cosa faccio?")
        if n % 3 == 0:
            consults.consult_start(actor=doctor, consult=consult)
            consults.consult_message_send(actor=doctor, consult=consult, text="Mi mandi i valori di una settimana.")
            consults.consult_message_send(actor=patient, consult=consult, text="Eccoli: 140/90, 135/88, 138/85.")
        elif n % 3 == 1:
            consults.consult_cancel(actor=patient, consult=consult)
        conversation = messaging.conversation_start_with_patient(
            actor=doctor,
            patient=patient,
            subject=f"Controllo {n}",
            allow_replies=True,
            text="Mi scriva i valori di questa settimana.",
        )
        messaging.message_send(actor=patient, conversation=conversation, text="Lunedì 128/82, giovedì 131/84.")
        for k in range(3):
            _demo_upload(patient, f"Esame {n}-{k}.pdf", rng.choice(["report", "exam", "prescription"]), pdf)
        deliver(patient, n)
        if n % 10 == 0:
            messaging.conversation_start_intramed(
                actor=doctor,
                doctors=[users["medico2"]],
                subject=f"Parere {n}",
                text="Ti mando una paziente per un consulto?",
            )
    drafts = proformas.proformas_draft(actor=doctor)
    payments.proformas_validate(actor=doctor, include=[p.pk for p in drafts])


def pages_by_role() -> dict[str, list[str]]:
    """The ten pages each role opens most (fewer for the roles that have fewer)."""
    from telemed.accounts.models import User
    from telemed.billing.models import PaymentRequest
    from telemed.consults.models import Consult
    from telemed.messaging.models import Conversation

    patient = User.objects.get(email=f"paziente@{DOMAIN}")
    doctor = User.objects.get(email=f"medico@{DOMAIN}")
    consult = Consult.objects.filter(patient=patient, doctor__user=doctor, status="in_progress").latest("pk")
    conversation = Conversation.objects.filter(participants__user=patient).latest("pk")
    payment = PaymentRequest.objects.filter(payer=patient).latest("pk")
    return {
        "paziente": [
            "/dashboard/", "/consults/", f"/consults/{consult.pk}/", "/box/", "/messages/", f"/messages/{conversation.pk}/",
            "/billing/payments/", f"/billing/payments/{payment.pk}/", "/visits/", "/reminders/",
        ],
        "medico": [
            "/dashboard/", "/consults/queue/", f"/consults/{consult.pk}/", "/box/", "/visits/agenda/", "/messages/",
            f"/messages/{conversation.pk}/", "/billing/invoicing/", "/billing/tariffs/", "/care/",
        ],
        "segreteria": ["/dashboard/", "/consults/info/", "/notifications/"],
        "struttura": ["/dashboard/", "/billing/structure/tariffs/"],
    }  # fmt: skip


def sessions() -> dict[str, str]:
    from telemed.accounts.models import User

    return {
        local: login_session(User.objects.get(email=f"{local}@{DOMAIN}"))
        for local in ("paziente", "medico", "segreteria", "struttura")
    }


# --- the clients -----------------------------------------------------------------------------------------------


async def _client(
    port: int, targets: list[tuple[str, str, str]], offset: int, stop_at: float, timings: dict, errors: list
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            label, path, session = targets[i % len(targets)]
            i += 1
            cookie = f"Cookie: sessionid={session}\r\n" if session else ""
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Language: it\r\n{cookie}User-Agent: telemed-bench\r\n\r\n"
            started = time.perf_counter()
            writer.write(request.encode())
            status, _body, close = await _read_response(reader)
            timings.setdefault(label, []).append(time.perf_counter() - started)
            if status != 200:
                errors.append(f"{status} {label}")
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def measure(
    port: int, targets: list[tuple[str, str, str]], seconds: float, offset: int = 0
) -> tuple[dict, list, float]:
    async def run():
        timings: dict[str, list[float]] = {}
        errors: list[str] = []
        started = time.perf_counter()
        stop_at = started + seconds
        step = max(1, len(targets) // CLIENTS)
        await asyncio.gather(
            *(_client(port, targets, offset + k * step, stop_at, timings, errors) for k in range(CLIENTS))
        )
        return timings, errors, time.perf_counter() - started

    return asyncio.run(run())


def interleaved(port: int, targets, seconds: float, rounds: int = 4):
    """The pages and /ping in alternating windows (pages ``seconds``, /ping half as long, in ``rounds``),
    so that a change of the machine's load weighs on both alike."""
    pages: dict[str, list[float]] = {}
    ping: list[float] = []
    errors: list[str] = []
    page_time = ping_time = 0.0
    for turn in range(rounds):
        timings, errs, elapsed = measure(port, targets, seconds / rounds, turn * 7)
        for label, values in timings.items():
            pages.setdefault(label, []).extend(values)
        errors += errs
        page_time += elapsed
        timings, errs, elapsed = measure(port, [("/ping", "/ping", "")], seconds / rounds / 2)
        ping += timings.get("/ping", [])
        errors += errs
        ping_time += elapsed
    return pages, page_time, ping, ping_time, errors


# --- main ------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=SCALE)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seconds", type=float, default=24.0, help="length of the measured page load (/ping: half)")
    parser.add_argument(
        "--keep-serving", action="store_true", help="after the run, keep the server up (for a profiler) until Ctrl-C"
    )
    args = parser.parse_args()
    begun = time.monotonic()
    load_start = load_average()

    require_scalable_stack(redis_db=6)
    (ROOT / "var").mkdir(exist_ok=True)
    print(f"bench pages: demo data x{args.scale}, {CLIENTS} clients, {os.cpu_count()} CPU(s)", flush=True)
    with scratch_platform() as (var_dir, database_url):
        tune_database(database_url)
        setup_django_on_scratch(var_dir, database_url)
        run(args, begun, load_start)


def run(args, begun: float, load_start: str) -> None:
    clock = time.monotonic()
    seed(args.scale)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"seeded in {time.monotonic() - clock:.0f} s", flush=True)
    by_role, keys = pages_by_role(), sessions()
    targets = [(f"{role} {path}", path, keys[role]) for role, paths in by_role.items() for path in paths]
    random.Random(SEED).shuffle(targets)
    from django.db import connections

    connections.close_all()

    port = free_port()
    env = {"DATABASE_POOL": "true", "TELEMED_DEBUG": "false"}
    log = open(ROOT / "var" / "bench-pages-server.log", "w+")  # noqa: SIM115 - closed below
    server = start_platform(port, "--no-worker", "--workers", str(args.workers), env=env, log=log)
    try:
        measure(port, targets, 3)  # warm-up: connections, caches, compiled templates
        measure(port, [("/ping", "/ping", "")], 2)
        pages, page_time, ping, ping_time, errors = interleaved(port, targets, args.seconds)
        report(pages, page_time, ping, ping_time, errors, begun, load_start)
        if args.keep_serving:
            print(
                f"serving on port {port} (server pid {server.pid}) under the same load; Ctrl-C or SIGTERM to stop",
                flush=True,
            )
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                while True:
                    measure(port, targets, 10)
            except KeyboardInterrupt:
                pass
    finally:
        stop_processes(server)
        log.close()


def report(
    pages: dict, page_time: float, ping: list, ping_time: float, errors: list, begun: float, load_start: str
) -> None:
    if not pages or not ping:
        fail("no request was answered")

    every = [value for values in pages.values() for value in values]
    for label in sorted(pages):
        values = pages[label]
        print(
            f"  {label:<42} {len(values):>6} requests  p50 {percentile(values, 0.5) * 1000:7.1f} ms  p95 {percentile(values, 0.95) * 1000:7.1f} ms"
        )
    p50, p95, p99 = (percentile(every, q) * 1000 for q in (0.5, 0.95, 0.99))
    rps, ping_rps = len(every) / page_time, len(ping) / ping_time
    ratio = rps / ping_rps
    print(f"  pages: {len(every):,} requests {rps:.1f} req/s p50 {p50:.1f} ms p95 {p95:.1f} ms p99 {p99:.1f} ms")
    print(f"  /ping: {len(ping):,} requests {ping_rps:.1f} req/s p95 {percentile(ping, 0.95) * 1000:.1f} ms")
    if errors:
        print(f"  errors: {len(errors)}: " + "; ".join(sorted(set(errors))[:8]))
    print(
        f"targets: p95 < 100 ms: {'met' if p95 < 100 else 'MISSED'}; pages >= 30% of /ping: {'met' if ratio >= 0.3 else 'MISSED'} ({ratio:.0%})"
    )
    print(
        f"whole run: {time.monotonic() - begun:.0f} s; load average (1, 5, 15 min) at the start {load_start}, at the end {load_average()}"
    )
    print(
        f"RESULT pages p95_ms={p95:.1f} rps={rps:.1f} ping_rps={ping_rps:.1f} ratio={ratio:.2f} pages={len(pages)} errors={len(errors)}"
    )


if __name__ == "__main__":
    main()
