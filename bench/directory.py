"""Benchmark of the public directory search on PostgreSQL, over HTTP against the real server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench make bench NAME=directory

What it does, in one run (a few minutes):

1. (re)creates the database named in DATABASE_URL — only if its name contains
   "bench", so that a production database can never be wiped by mistake — and
   migrates it;
2. loads 100,000 doctors with COPY (Italian names, specialties, cities, languages,
   structures, certifications, tariffs), then builds the directory entries with
   the directory's own service, as the task worker would;
3. starts the real platform (``manage.py serve --no-worker``: uvicorn, the ASGI
   application, several worker processes) on a free loopback port; with
   ``--workers auto`` (the default) it first measures a short search load with
   each candidate number of worker processes and keeps the fastest;
4. replays a mix of realistic searches — names, specialties, cities, filters and their
   combinations, drawn Zipf-like from 10,000 distinct queries — from 16 concurrent keep-alive clients
   (plain asyncio sockets, HTTP/1.1) and, in the same run and on the same server,
   the trivial ``/ping`` view as the baseline, in alternating windows so that a
   change in the machine's load weighs on both alike;
5. prints p50/p95/p99 latency and requests per second, the baseline and the ratio,
   and ends with ``RESULT directory p50_ms=… p95_ms=… p99_ms=… rps=… baseline_rps=… ratio=… distinct_queries=…``.

All traffic goes to 127.0.0.1. ``--reuse`` keeps an already loaded database.
Targets: p95 under 50 ms; searches at least 40% of the trivial view's throughput.
The database gets ``jit = off`` and no parallel workers (see ``tune_database``).
"""

import argparse
import asyncio
import datetime
import os
import random
import statistics
import time
from decimal import Decimal
from urllib.parse import urlencode

from harness import (
    ROOT,
    bench_database_name,
    free_port,
    load_average,
    maintenance_connection,
    migrate,
    recreate_database,
    require_scalable_stack,
    setup_django,
    start_platform,
    stop_processes,
)

DOCTORS = 100_000
CLIENTS = 16
SEED = 2026
# The searches are drawn from this many distinct queries, the r-th most popular asked in proportion
# to 1/r^ZIPF_EXPONENT.
DISTINCT_QUERIES = 10_000
ZIPF_EXPONENT = 1.0

FIRST_NAMES_M = (
    "Marco Luca Giuseppe Francesco Alessandro Andrea Matteo Lorenzo Davide Stefano Paolo Roberto Giovanni Antonio "
    "Riccardo Simone Federico Fabio Massimo Claudio Enrico Nicola Niccolò Gabriele Tommaso Pietro Emanuele Daniele "
    "Michele Salvatore Vincenzo Carlo Mario Alberto Filippo Leonardo Jacopo Edoardo Raffaele Gianluca"
).split()
FIRST_NAMES_F = (
    "Giulia Francesca Chiara Sara Elena Valentina Federica Alessandra Martina Silvia Laura Paola Anna Maria Roberta "
    "Elisa Claudia Simona Monica Barbara Ilaria Beatrice Cristina Eleonora Serena Noemi Aurora Lucia Caterina Irene "
    "Marta Alice Veronica Daniela Rossella Letizia Benedetta Camilla Greta Gaia"
).split()
SURNAMES = (
    "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti Mancini Costa "
    "Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani Rinaldi Caruso Ferrara Galli Martini Leone "
    "Longo Gentile Martinelli Vitale Lombardo Serra Coppola D'Angelo Marchetti Parisi Villa Conte Ferraro "
    "Ferri Fabbri Bianco Marini Grasso Valentini Messina Sala Gatti Pellegrini Palumbo Sanna Farina Rizzi "
    "Monti Cattaneo Morelli Amato Silvestri Mazza Testa Grassi Pellegrino Carbone Giuliani Benedetti Barone Rossetti "
    "Caputo Montanari Guerra Palmieri Bernardi Martino Fiore Ferretti Bellini Basile Riva Donati Piras Vitali "
    "Battaglia Sartori Neri Costantini Milani Pagano Ruggiero Sorrentino D'Amico Orlando Damiani Negri Nicolò Cocco"
).split() + ["De Luca", "De Santis", "De Angelis", "De Rosa", "Dell'Acqua", "Lo Russo", "Di Stefano"]
# city, province, postcode, weight (roughly the population)
CITIES = [
    ("Roma", "RM", "00184", 28),
    ("Milano", "MI", "20121", 14),
    ("Napoli", "NA", "80133", 9),
    ("Torino", "TO", "10121", 8),
    ("Palermo", "PA", "90133", 6),
    ("Genova", "GE", "16121", 5),
    ("Bologna", "BO", "40121", 4),
    ("Firenze", "FI", "50123", 4),
    ("Bari", "BA", "70121", 3),
    ("Catania", "CT", "95131", 3),
    ("Venezia", "VE", "30124", 2),
    ("Verona", "VR", "37121", 2),
    ("Messina", "ME", "98122", 2),
    ("Padova", "PD", "35121", 2),
    ("Trieste", "TS", "34121", 2),
    ("Brescia", "BS", "25121", 2),
    ("Parma", "PR", "43121", 2),
    ("Taranto", "TA", "74121", 2),
    ("Prato", "PO", "59100", 2),
    ("Modena", "MO", "41121", 2),
    ("Reggio Calabria", "RC", "89121", 2),
    ("Reggio Emilia", "RE", "42121", 2),
    ("Perugia", "PG", "06121", 2),
    ("Livorno", "LI", "57123", 1),
    ("Ravenna", "RA", "48121", 1),
    ("Cagliari", "CA", "09124", 1),
    ("Foggia", "FG", "71121", 1),
    ("Rimini", "RN", "47921", 1),
    ("Salerno", "SA", "84121", 1),
    ("Ferrara", "FE", "44121", 1),
    ("Sassari", "SS", "07100", 1),
    ("Latina", "LT", "04100", 1),
    ("Monza", "MB", "20900", 1),
    ("Bergamo", "BG", "24121", 1),
    ("Pescara", "PE", "65121", 1),
    ("Forlì", "FC", "47121", 1),
    ("Trento", "TN", "38122", 1),
    ("Vicenza", "VI", "36100", 1),
    ("Terni", "TR", "05100", 1),
    ("Bolzano", "BZ", "39100", 1),
    ("Novara", "NO", "28100", 1),
    ("Piacenza", "PC", "29121", 1),
    ("Ancona", "AN", "60121", 1),
    ("Andria", "BT", "76123", 1),
    ("Udine", "UD", "33100", 1),
    ("Arezzo", "AR", "52100", 1),
    ("Cesena", "FC", "47521", 1),
    ("Lecce", "LE", "73100", 1),
    ("Pesaro", "PU", "61121", 1),
    ("La Spezia", "SP", "19121", 1),
    ("Cantù", "CO", "22063", 1),
    ("Sesto San Giovanni", "MI", "20099", 1),
    ("Rho", "MI", "20017", 1),
    ("Tivoli", "RM", "00019", 1),
    ("Pozzuoli", "NA", "80078", 1),
]
# specialty code, weight
SPECIALTY_WEIGHTS = {
    "medicina-generale": 14,
    "cardiologia": 7,
    "dermatologia": 6,
    "ginecologia": 6,
    "pediatria": 7,
    "ortopedia": 6,
    "oftalmologia": 4,
    "psichiatria": 4,
    "neurologia": 4,
    "gastroenterologia": 3,
    "endocrinologia": 3,
    "otorinolaringoiatria": 3,
    "urologia": 3,
    "radiologia": 4,
    "medicina-interna": 4,
    "pneumologia": 2,
    "reumatologia": 2,
    "oncologia": 2,
    "geriatria": 2,
    "diabetologia": 2,
    "allergologia": 2,
    "medicina-dello-sport": 2,
    "nefrologia": 1,
    "ematologia": 1,
    "malattie-infettive": 1,
    "chirurgia-generale": 2,
    "chirurgia-plastica": 2,
    "angiologia": 1,
    "anestesia": 1,
    "medicina-del-lavoro": 1,
    "medicina-fisica": 1,
    "medicina-legale": 1,
    "neurochirurgia": 1,
    "neuropsichiatria-infantile": 1,
    "radioterapia": 1,
    "scienza-alimentazione": 2,
    "cardiochirurgia": 1,
    "chirurgia-toracica": 1,
}
LANGUAGE_ODDS = {
    "en": 0.55,
    "fr": 0.15,
    "de": 0.08,
    "es": 0.12,
    "pt": 0.03,
    "ro": 0.02,
    "sq": 0.01,
    "ar": 0.01,
    "zh": 0.005,
    "uk": 0.01,
    "ru": 0.01,
    "sl": 0.005,
}
PRESENTATIONS = [
    "Medico specialista in {spec} a {city}. Ricevo consulti online e videovisite e rispondo di persona a ogni richiesta.",
    "Mi occupo di {spec} da oltre {years} anni; seguo pazienti adulti e anziani, anche per un secondo parere.",
    "{spec}: diagnosi, terapia e controlli periodici. Esperienza ospedaliera a {city} e attività ambulatoriale.",
    "Specialista in {spec}. Leggo referti e immagini radiologiche e propongo un piano di cura chiaro.",
    "",
]
# Typing errors and accents people make, for the name searches.
TYPOS = {
    "rossi": "rosi",
    "bianchi": "bianki",
    "esposito": "esposto",
    "colombo": "colmbo",
    "ferrari": "ferarri",
    "ricci": "rici",
    "giordano": "giordamo",
    "lombardi": "lombadi",
    "moretti": "moreti",
    "mancini": "mancni",
}
TEXT_QUERIES = [
    "cardiologo milano",
    "dermatologo roma",
    "pediatra napoli",
    "ginecologa torino",
    "ortopedico",
    "medicina dello sport",
    "oculista",
    "psichiatra bologna",
    "neurologo",
    "endocrinologia",
    "allergologo firenze",
    "medico di base",
    "diabetologo",
    "reumatologia",
    "urologo bari",
    "cardiologia pediatrica",
    "nutrizionista",
]


# --- the database ------------------------------------------------------------------------------------------


def tune_database(database_url: str) -> None:
    """The settings a many-small-queries workload wants on a small machine, for this database only:
    no JIT compilation (it costs more than the millisecond queries it would speed up) and no
    parallel workers (on 2 cores they take CPU from the other requests)."""
    from psycopg import sql

    name = bench_database_name(database_url)
    with maintenance_connection(database_url) as conn:
        for setting in ("jit = off", "max_parallel_workers_per_gather = 0"):
            conn.execute(sql.SQL("ALTER DATABASE {} SET " + setting).format(sql.Identifier(name)))


def _copy(cursor, model, rows: list[dict]) -> None:
    """COPY rows (dicts by attname; missing fields take their default) into the model's table."""
    fields = [f for f in model._meta.concrete_fields]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    defaults = {f.attname: (f.get_default() if f.has_default() else None) for f in fields}
    with cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[f.attname] if f.attname in row else defaults[f.attname] for f in fields])


def _weighted(rng: random.Random, weights: dict):
    keys, values = list(weights), list(weights.values())
    return lambda k=1: rng.choices(keys, values, k=k)


def load_doctors(count: int) -> None:
    """100,000 doctors with everything the directory shows, written with COPY in one transaction."""
    from django.db import connection, transaction
    from django.utils import timezone
    from django.utils.text import slugify

    from telemed.accounts.models import Certification, DoctorProfile, Language, Specialty, Structure, User
    from telemed.billing.models import Tariff

    rng = random.Random(SEED)
    now = timezone.now()
    specialty_ids = dict(Specialty.objects.values_list("code", "pk"))
    language_ids = dict(Language.objects.values_list("code", "pk"))
    pick_specialty = _weighted(rng, {code: w for code, w in SPECIALTY_WEIGHTS.items() if code in specialty_ids})
    pick_city = _weighted(rng, {c[:3]: c[3] for c in CITIES})
    base = 10_000_000

    users, profiles, specs, langs, certs, tariffs, structures = [], [], [], [], [], [], []
    for n in range(1, 301):
        city, province, _ = pick_city()[0]
        structures.append({
            "id": base + n, "name": f"Poliambulatorio {rng.choice(SURNAMES)} {n}", "slug": f"bench-structure-{n}",
            "partita_iva": f"{90000000000 + n:011d}", "address": f"Via Garibaldi {n}", "city": city, "province": province,
            "created_at": now,
        })  # fmt: skip
    for n in range(1, count + 1):
        female = rng.random() < 0.48
        first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
        last = rng.choice(SURNAMES)
        city, province, cap = pick_city()[0]
        pk = base + n
        joined = now - datetime.timedelta(days=rng.randint(1, 2000))
        users.append({
            "id": pk, "password": "!", "email": f"doctor{n}@bench.telemed.test", "first_name": first, "last_name": last,
            "role": "doctor", "language": "it", "is_active": rng.random() > 0.005, "is_staff": False, "is_superuser": False,
            "date_joined": joined, "email_verified_at": joined,
        })  # fmt: skip
        chosen = list(dict.fromkeys(pick_specialty(1 if rng.random() < 0.8 else 2)))
        profiles.append({
            "id": pk, "user_id": pk, "codice_fiscale": f"BNC{n:013d}", "birth_date": datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randint(0, 15000)),
            "sex": "F" if female else "M", "phone": f"+39 347 {n:07d}", "slug": slugify(f"{first} {last} {n}"),
            "ordine_province": province, "ordine_number": str(n), "partita_iva": f"{10000000000 + n:011d}",
            "iban": "IT60X0542811101000000123456", "practice_address": f"Via Roma {rng.randint(1, 200)}",
            "practice_city": city, "practice_postcode": cap, "practice_province": province,
            "presentation": rng.choice(PRESENTATIONS).format(spec=chosen[0].replace("-", " "), city=city, years=rng.randint(5, 30)),
            "available_for_second_opinion": rng.random() < 0.6,
            "structure_id": base + rng.randint(1, 300) if rng.random() < 0.15 else None,
            "created_at": joined, "updated_at": joined,
        })  # fmt: skip
        specs.extend({"doctorprofile_id": pk, "specialty_id": specialty_ids[code]} for code in chosen)
        langs.append({"doctorprofile_id": pk, "language_id": language_ids["it"]})
        langs.extend(
            {"doctorprofile_id": pk, "language_id": language_ids[code]}
            for code, odds in LANGUAGE_ODDS.items() if rng.random() < odds
        )  # fmt: skip
        verified = rng.random() < 0.7
        for kind in ("degree_albo", "insurance"):
            status = "verified" if verified else rng.choice(["pending", "pending", "pending", "rejected"])
            certs.append({
                "doctor_id": pk, "kind": kind, "file": f"private/certifications/{pk}/{kind}", "original_name": f"{kind}.pdf",
                "content_type": "application/pdf", "size": 1024, "status": status, "reviewed_at": joined if status != "pending" else None,
                "review_note": "", "uploaded_at": joined,
            })  # fmt: skip
        since = joined + datetime.timedelta(hours=1)

        def tariff(kind, fee, duration=None, response=(None, ""), since=since, pk=pk):
            tariffs.append({
                "valid_from": since, "valid_to": None, "set_by_id": pk, "doctor_id": pk, "kind": kind, "duration_minutes": duration,
                "offered": True, "fee": Decimal(fee), "response_value": response[0], "response_unit": response[1],
                "set_by_structure_id": None,
            })  # fmt: skip

        tariff("info", "0.00", response=(2, "working_days"))
        tariff("base", f"{rng.randrange(25, 90, 5)}.00", response=(72, "hours"))
        if rng.random() < 0.6:
            tariff("imaging", f"{rng.randrange(40, 140, 5)}.00", response=(5, "working_days"))
        if rng.random() < 0.5:
            tariff("priority", f"{rng.randrange(50, 160, 5)}.00", response=(24, "hours"))
        if rng.random() < 0.7:
            for minutes in sorted(rng.sample([15, 30, 45, 60], rng.randint(1, 3))):
                tariff("video", f"{15 + minutes + rng.randrange(0, 40, 5)}.00", duration=minutes)

    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own cursor, for COPY
        _copy(cursor, Structure, structures)
        _copy(cursor, User, users)
        _copy(cursor, DoctorProfile, profiles)
        with cursor.copy("COPY accounts_doctorprofile_specialties (doctorprofile_id, specialty_id) FROM STDIN") as copy:
            for row in specs:
                copy.write_row((row["doctorprofile_id"], row["specialty_id"]))
        with cursor.copy("COPY accounts_doctorprofile_languages (doctorprofile_id, language_id) FROM STDIN") as copy:
            for row in langs:
                copy.write_row((row["doctorprofile_id"], row["language_id"]))
        for model, rows in ((Certification, certs), (Tariff, tariffs)):
            fields = [f for f in model._meta.concrete_fields if not f.primary_key]
            columns = ", ".join(f'"{f.column}"' for f in fields)
            with cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([row.get(f.attname) for f in fields])
        for model in (Structure, User, DoctorProfile):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM \"{table}\"))")
    print(f"  {len(users):,} doctors, {len(specs):,} specialties, {len(langs):,} languages, "
          f"{len(certs):,} certifications, {len(tariffs):,} tariffs, {len(structures)} structures")  # fmt: skip


def build_entries() -> int:
    from django.db import connection

    from telemed.directory import services

    def progress(done, total):
        if done % 20_000 < services.BATCH_SIZE * 4:
            print(f"  … {done:,} / {total:,}", flush=True)

    written = services.directory_reindex(batch_size=2000, progress=progress)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return written


# --- the searches -----------------------------------------------------------------------------------------


def _one_search(rng: random.Random, sample: list[tuple], specialties: list[str]) -> str:
    """One search URL as people make them: names (some mistyped or accented), specialties, places, filters, pages."""
    name, city, province, codes = rng.choice(sample)
    first, last = name.split(" ", 1)
    roll = rng.random()
    params: dict = {}
    if roll < 0.12:  # the directory's front page, or a page of it
        params = {"page": rng.randint(2, 6)} if rng.random() < 0.4 else {}
    elif roll < 0.30:  # a surname, a full name, a mistyped or accent-free name
        choice = rng.random()
        if choice < 0.4:
            params = {"q": last}
        elif choice < 0.7:
            params = {"q": name}
        else:
            key = last.lower()
            params = {"q": TYPOS.get(key, key[:-1] if len(key) > 5 else key).replace("ò", "o")}
    elif roll < 0.50:  # a specialty, often in a place
        params = {"specialty": rng.choice(specialties)}
        if rng.random() < 0.7:
            params["city"] = rng.choice([city, province, city.lower()])
    elif roll < 0.65:  # words, as people type them
        params = {"q": rng.choice(TEXT_QUERIES)}
    elif roll < 0.85:  # filters
        params = {"specialty": codes.split()[0], "language": rng.choice(["en", "en", "fr", "de", "es"])}
        if rng.random() < 0.5:
            params["second_opinion"] = "on"
        if rng.random() < 0.6:
            params["service"] = rng.choice(["base", "imaging", "priority", "video"])
            params["max_price"] = rng.choice([50, 80, 100, 150])
        if rng.random() < 0.5:
            params["city"] = province
    else:  # a name with filters, or a later page
        params = (
            {"q": last, "city": city}
            if rng.random() < 0.5
            else {"specialty": rng.choice(specialties), "page": rng.randint(2, 4)}
        )
    return "/medici/" + ("?" + urlencode(params) if params else "")


def query_pool(distinct: int) -> list[str]:
    """``distinct`` different search URLs, most popular first: the front page, then the others in a
    random order (how popular a query is has nothing to do with how it was made)."""
    from telemed.directory.models import DirectoryEntry

    rng = random.Random(SEED + 1)
    ids = list(DirectoryEntry.objects.order_by("doctor_id").values_list("doctor_id", flat=True))
    sample = list(
        DirectoryEntry.objects.filter(doctor_id__in=rng.sample(ids, min(len(ids), 5000)))
        .order_by("doctor_id")
        .values_list("display_name", "city", "province", "specialty_codes")
    )
    specialties = list(SPECIALTY_WEIGHTS)
    pool = {"/medici/": None}
    for _ in range(distinct * 100):
        if len(pool) >= distinct:
            break
        pool.setdefault(_one_search(rng, sample, specialties), None)
    ranked = list(pool)[1:]
    rng.shuffle(ranked)
    return ["/medici/", *ranked]


def search_mix(n: int, distinct: int = DISTINCT_QUERIES) -> tuple[list[str], int]:
    """``n`` searches drawn from a pool of ``distinct`` queries with Zipf-like popularity (the query
    of rank r is asked in proportion to 1/r^ZIPF_EXPONENT), as searches on a site are: a few very
    often, most of them rarely. A cache helps here only as much as it would in real use.
    Returns the searches and the size of the pool."""
    pool = query_pool(distinct)
    weights = [1 / rank**ZIPF_EXPONENT for rank in range(1, len(pool) + 1)]
    return random.Random(SEED + 2).choices(pool, weights, k=n), len(pool)


# --- the server ---------------------------------------------------------------------------------------------


class Server:
    """``manage.py serve --no-worker`` (uvicorn running the ASGI application) on a loopback port."""

    def __init__(self, database_url: str, workers: int):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            "DATABASE_URL": database_url,
            "DATABASE_POOL": "true",
            "TELEMED_ENV": "development",
            "TELEMED_DEBUG": "false",
        }
        self.log = open(ROOT / "var" / "bench-directory-server.log", "w+")  # noqa: SIM115 - closed in stop()
        self.process = start_platform(
            self.port, "--no-worker", "--host", "127.0.0.1", "--workers", str(workers), env=env, log=self.log
        )

    def stop(self) -> None:
        stop_processes(self.process)
        self.log.close()


# --- the clients ----------------------------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
    return status, body, headers.get("connection", "").lower() == "close"


async def _client(
    port: int, urls: list[str], offset: int, stop_at: float, latencies: list[float], errors: list[str], found: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            url = urls[i % len(urls)]
            i += 1
            request = f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Language: it\r\nUser-Agent: telemed-bench\r\n\r\n"
            started = time.perf_counter()
            writer.write(request.encode())
            status, body, close = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(f"{status} {url}")
            elif b'data-testid="result"' in body:
                found.append(1)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def _measure(
    port: int, urls: list[str], seconds: float, clients: int, offset: int = 0
) -> tuple[list, list, list, float]:
    async def run():
        latencies: list[float] = []
        errors: list[str] = []
        found: list[int] = []
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(*(
            _client(port, urls, offset + k * (len(urls) // clients), stop_at, latencies, errors, found)
            for k in range(clients)
        ))  # fmt: skip
        return latencies, errors, found, time.perf_counter() - started

    return asyncio.run(run())


def _summary(latencies: list[float], errors: list[str], found: list[int], elapsed: float) -> dict:
    ms = sorted(value * 1000 for value in latencies)
    quantiles = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {
        "requests": len(ms),
        "errors": errors,
        "rps": len(ms) / elapsed,
        "p50": quantiles[49],
        "p95": quantiles[94],
        "p99": quantiles[98],
        "mean": statistics.fmean(ms),
        "with_results": len(found) / len(ms),
    }


def load(port: int, urls: list[str], seconds: float, clients: int = CLIENTS) -> dict:
    """``clients`` closed-loop keep-alive clients for ``seconds``; latencies in ms and requests per second."""
    return _summary(*_measure(port, urls, seconds, clients))


def load_interleaved(
    port: int, urls: list[str], baseline: list[str], seconds: float, rounds: int = 4
) -> tuple[dict, dict]:
    """The searches and the baseline in alternating windows (search ``seconds``, baseline half as long,
    in ``rounds`` rounds), so that a change of the machine's load weighs on both alike."""
    totals = {"search": ([], [], [], 0.0), "baseline": ([], [], [], 0.0)}
    for turn in range(rounds):
        for name, targets, share in (("search", urls, 1.0), ("baseline", baseline, 0.5)):
            latencies, errors, found, elapsed = _measure(port, targets, seconds * share / rounds, CLIENTS, turn * 997)
            kept = totals[name]
            totals[name] = (kept[0] + latencies, kept[1] + errors, kept[2] + found, kept[3] + elapsed)
    return _summary(*totals["search"]), _summary(*totals["baseline"])


def describe(label: str, result: dict) -> str:
    return (
        f"  {label:<9} {result['requests']:>7,} requests  {result['rps']:8.1f} req/s  "
        f"p50 {result['p50']:6.1f} ms  p95 {result['p95']:6.1f} ms  p99 {result['p99']:6.1f} ms  "
        f"errors {len(result['errors'])}"
    )


# --- main -------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doctors", type=int, default=DOCTORS)
    parser.add_argument("--workers", default="auto", help="uvicorn worker processes, or 'auto' to measure 2, 3 and 4")
    parser.add_argument(
        "--seconds", type=float, default=24.0, help="length of the measured search load (the baseline: half)"
    )
    parser.add_argument("--reuse", action="store_true", help="keep the benchmark database if it is already loaded")
    args = parser.parse_args()
    begun = time.monotonic()
    load_start = load_average()

    database_url, _ = require_scalable_stack()
    (ROOT / "var").mkdir(exist_ok=True)
    print(
        f"bench directory: PostgreSQL database {bench_database_name(database_url)!r}, {args.doctors:,} doctors, {CLIENTS} clients, {os.cpu_count()} CPU(s)"
    )
    created = recreate_database(database_url, keep_existing=args.reuse)
    tune_database(database_url)
    print("database settings: jit = off, max_parallel_workers_per_gather = 0 (this database only)")
    os.environ["DATABASE_POOL"] = "false"
    os.environ.setdefault("TELEMED_LOG_LEVEL", "WARNING")
    setup_django()
    from django.db import connection

    from telemed.accounts.models import DoctorProfile

    clock = time.monotonic()
    migrate()
    print(f"migrated in {time.monotonic() - clock:.1f} s")
    if created or DoctorProfile.objects.count() < args.doctors:
        clock = time.monotonic()
        load_doctors(args.doctors)
        print(f"loaded in {time.monotonic() - clock:.1f} s")
        clock = time.monotonic()
        written = build_entries()
        print(f"directory entries built: {written:,} in {time.monotonic() - clock:.1f} s")
    else:
        # A migration may have rewritten rows: the figures are of a vacuumed, analysed table.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print("reusing the loaded database (vacuumed and analysed again)")

    urls, distinct = search_mix(60_000)
    print(f"searches: drawn from {distinct:,} distinct queries (Zipf, exponent {ZIPF_EXPONENT}); "
          f"{len(set(urls)):,} distinct among the {len(urls):,} prepared")  # fmt: skip
    from django.db import connections

    connections.close_all()

    candidates = [2, 3, 4] if args.workers == "auto" else [int(args.workers)]
    workers = candidates[0]
    if len(candidates) > 1:
        print("choosing the number of server processes (6 s of searches each):")
        best = -1.0
        for count in candidates:
            server = Server(database_url, count)
            try:
                load(server.port, urls, 2)  # warm-up: connections, caches, compiled templates
                trial = load(server.port, urls, 6)
            finally:
                server.stop()
            print(describe(f"{count} procs", trial))
            if trial["rps"] > best:
                best, workers = trial["rps"], count
    print(f"server: manage.py serve --no-worker --workers {workers} (uvicorn, ASGI, HTTP/1.1 on 127.0.0.1)")

    server = Server(database_url, workers)
    try:
        load(server.port, urls, 3)
        load(server.port, ["/ping"], 2)
        search, baseline = load_interleaved(server.port, urls, ["/ping"], args.seconds)
    finally:
        server.stop()
    print(describe("searches", search) + f"  (pages with results: {search['with_results']:.0%})")
    print(describe("/ping", baseline))
    if search["errors"] or baseline["errors"]:
        print("  errors: " + "; ".join((search["errors"] + baseline["errors"])[:5]))
    ratio = search["rps"] / baseline["rps"]
    print(f"targets: p95 < 50 ms: {'met' if search['p95'] < 50 else 'MISSED'}; "
          f"searches >= 40% of /ping: {'met' if ratio >= 0.4 else 'MISSED'} ({ratio:.0%})")  # fmt: skip
    print(f"whole run: {time.monotonic() - begun:.0f} s; load average (1, 5, 15 min) at the start "
          f"{load_start}, at the end {load_average()}")  # fmt: skip
    print(
        f"RESULT directory p50_ms={search['p50']:.1f} p95_ms={search['p95']:.1f} p99_ms={search['p99']:.1f} "
        f"rps={search['rps']:.1f} baseline_rps={baseline['rps']:.1f} ratio={ratio:.2f} distinct_queries={distinct}"
    )


if __name__ == "__main__":
    main()
