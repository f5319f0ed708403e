"""Benchmark of reconciliation: one bank statement that pays many requests at once.

    make bench NAME=billing
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_billing make bench NAME=billing

What it does, in one run (a minute or two):

1. makes a scratch var dir (and a scratch SQLite database, or drops and creates the
   PostgreSQL database of DATABASE_URL, only if its name contains "bench") and migrates it;
2. sets up the path's real state through the billing services: a few doctors (one donating
   to a charity), patients, and ``--count`` delivered services, each drafted with
   "Emetti fattura" and validated into a payment request with its RF reference;
3. writes the camt.053 statement in which each request is paid by one transfer with its
   reference and exact amount;
4. the baseline: the same file parsed (the same lxml parser) and one row per transfer
   inserted in one transaction into a bare table: what recording the transfers costs
   without matching them;
5. the measure: ``statement_import`` of that file, in its one transaction: each transfer
   matched by reference and amount, applied, its request settled, the invoice numbered
   (the doctor's counter row locked), the ledger journals written, the delivery enqueued;
6. checks that every request is paid, that each doctor's invoice numbers run 1..n without a
   gap, and that the ledger balances; then imports the same file again (nothing changes)
   and times that too;
7. prints transfers per second against the baseline's and ends with
   ``RESULT billing transfers=… import_s=… per_s=… baseline_per_s=… ratio=… reimport_s=… balanced=…``.

Touches only 127.0.0.1 (the database) and the scratch directory.
"""

import argparse
import io
import time
from decimal import Decimal

from harness import fail, scratch_platform, setup_django_on_scratch


def people(doctors: int, patients: int):
    import datetime

    from telemed.accounts.models import DoctorProfile, PatientProfile, Role, User
    from telemed.billing import donations, tariffs
    from telemed.billing.models import Charity
    from telemed.portal.management.commands.load_demo import demo_codice_fiscale, demo_iban, demo_partita_iva

    staff = User.objects.create_superuser(
        "bench.staff@example.test", "a-bench-password-2026", first_name="Staff", last_name="Bench"
    )
    charity = Charity.objects.create(name="Bench Onlus", iban="IT60X0542811101000000123456")
    profiles = []
    for n in range(doctors):
        user = User.objects.create_user(
            f"bench.doctor{n}@example.test", "x", first_name="Medico", last_name=f"Bench{n}", role=Role.DOCTOR
        )
        birth = datetime.date(1970, 1, 1) + datetime.timedelta(days=n)
        profile = DoctorProfile.objects.create(
            user=user, slug=f"bench-{n}", codice_fiscale=demo_codice_fiscale(f"Bench{n}", "Medico", birth, "M", "F205"),
            birth_date=birth, sex="M", phone="+39 347 000 0000", ordine_province="MI", ordine_number=str(90000 + n),
            partita_iva=demo_partita_iva(700000 + n), iban=demo_iban(500 + n), practice_address="Via Roma 1",
            practice_city="Milano", practice_postcode="20121", practice_province="MI",
        )  # fmt: skip
        tariffs.tariff_set(
            actor=user,
            doctor=profile,
            kind="base",
            fee=Decimal("45.00") + n * 20,
            response_value=72,
            response_unit="hours",
        )
        profiles.append(profile)
    donations.donation_set(actor=profiles[0].user, percent=Decimal("10"), charity=charity)
    patient_users = []
    for n in range(patients):
        user = User.objects.create_user(
            f"bench.patient{n}@example.test", "x", first_name="Paziente", last_name=f"Bench{n}", role=Role.PATIENT
        )
        birth = datetime.date(1980, 1, 1) + datetime.timedelta(days=n)
        PatientProfile.objects.create(
            user=user, codice_fiscale=demo_codice_fiscale(f"Bench{n}", "Paziente", birth, "F", "F205"), birth_date=birth, sex="F", phone="+39 333 000 0000"
        )  # fmt: skip
        patient_users.append(user)
    return staff, profiles, patient_users


def requests_to_pay(count: int, doctors, patients):
    from django.utils import timezone

    from telemed.billing import payments, pricing, proformas

    for n in range(count):
        doctor, patient = doctors[n % len(doctors)], patients[n % len(patients)]
        proformas.billable_service_register(
            doctor=doctor, patient=patient, kind="base", duration_minutes=None,
            breakdown=pricing.price_service(doctor=doctor, kind="base"), accepted_at=timezone.now(), source_label=f"Consulto {n}",
        )  # fmt: skip
    sent = []
    for doctor in doctors:
        drafts = proformas.proformas_draft(actor=doctor.user)
        sent += payments.proformas_validate(actor=doctor.user, include=[proforma.pk for proforma in drafts])
    return sent


def statement(requests) -> bytes:
    from django.conf import settings
    from lxml import etree

    root = etree.Element("Document", nsmap={None: "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"})
    message = etree.SubElement(root, "BkToCstmrStmt")
    etree.SubElement(etree.SubElement(message, "GrpHdr"), "MsgId").text = "BENCH-1"
    stmt = etree.SubElement(message, "Stmt")
    etree.SubElement(stmt, "Id").text = "BENCH-STMT-1"
    etree.SubElement(etree.SubElement(etree.SubElement(stmt, "Acct"), "Id"), "IBAN").text = settings.BILLING_IBAN
    for n, request in enumerate(requests):
        entry = etree.SubElement(stmt, "Ntry")
        etree.SubElement(entry, "Amt", Ccy="EUR").text = str(request.amount)
        etree.SubElement(entry, "CdtDbtInd").text = "CRDT"
        etree.SubElement(etree.SubElement(entry, "Sts"), "Cd").text = "BOOK"
        etree.SubElement(etree.SubElement(entry, "BookgDt"), "Dt").text = "2026-03-02"
        etree.SubElement(entry, "AcctSvcrRef").text = f"BENCH{n:08d}"
        details = etree.SubElement(etree.SubElement(entry, "NtryDtls"), "TxDtls")
        parties = etree.SubElement(details, "RltdPties")
        etree.SubElement(
            etree.SubElement(etree.SubElement(parties, "Dbtr"), "Pty"), "Nm"
        ).text = request.payer.get_full_name()
        reference = etree.SubElement(etree.SubElement(etree.SubElement(details, "RmtInf"), "Strd"), "CdtrRefInf")
        etree.SubElement(reference, "Ref").text = request.reference
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def baseline(content: bytes) -> float:
    """Parse the file and insert one bare row per credit, in one transaction."""
    from django.db import connection, transaction

    from telemed.billing import camt

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_transfer (id integer PRIMARY KEY, entry_key varchar(100) UNIQUE, amount numeric(12,2), reference varchar(35))"
        )
    start = time.perf_counter()
    parsed = camt.parse(io.BytesIO(content))
    with transaction.atomic(), connection.cursor() as cursor:
        for n, credit in enumerate(parsed.credits):
            cursor.execute(
                "INSERT INTO bench_transfer (id, entry_key, amount, reference) VALUES (%s, %s, %s, %s)",
                [n, credit.entry_key, credit.amount, credit.structured_reference],
            )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=600, help="payment requests paid by the statement (default 600)")
    args = parser.parse_args()
    if not 10 <= args.count <= 20000:
        fail("--count must be between 10 and 20000")
    with scratch_platform() as (var_dir, database_url):
        setup_django_on_scratch(var_dir, database_url)
        from django.db.models import Count, Max

        from telemed.billing import ledger, reconciliation
        from telemed.billing.models import Invoice, PaymentRequest, PaymentStatus

        started = time.perf_counter()
        staff, doctors, patients = people(doctors=5, patients=50)
        requests = requests_to_pay(args.count, doctors, patients)
        content = statement(requests)
        print(
            f"setup: {len(requests)} payment requests, statement of {len(content) / 1024:.0f} kB, in {time.perf_counter() - started:.1f}s"
        )

        baseline_s = baseline(content)
        baseline_per_s = len(requests) / baseline_s

        start = time.perf_counter()
        result = reconciliation.statement_import(actor=staff, stream=io.BytesIO(content), file_name="bench.xml")
        import_s = time.perf_counter() - start
        per_s = len(requests) / import_s

        start = time.perf_counter()
        again = reconciliation.statement_import(actor=staff, stream=io.BytesIO(content), file_name="bench.xml")
        reimport_s = time.perf_counter() - start

        paid = PaymentRequest.objects.filter(status=PaymentStatus.PAID).count()
        gapless = all(
            row["n"] == row["top"]
            for row in Invoice.objects.values("doctor").annotate(n=Count("pk"), top=Max("number"))
        )
        balanced = ledger.totals().balances
        if result.matched != len(requests) or paid != len(requests) or not gapless or not again.already_imported:
            fail(
                f"wrong outcome: matched={result.matched} paid={paid} gapless={gapless} reimported={again.already_imported}"
            )
        ratio = per_s / baseline_per_s
        print(f"baseline (parse + one bare INSERT per transfer): {baseline_s:.2f}s, {baseline_per_s:.0f} transfers/s")
        print(
            f"statement_import (match, settle, invoice, ledger, enqueue): {import_s:.2f}s, {per_s:.0f} transfers/s; ratio {ratio:.3f}"
        )
        print(
            f"same statement again: {reimport_s * 1000:.0f} ms (recognised, nothing changed); ledger balanced: {balanced}"
        )
        print(
            f"RESULT billing transfers={len(requests)} import_s={import_s:.2f} per_s={per_s:.1f} "
            f"baseline_per_s={baseline_per_s:.1f} ratio={ratio:.3f} reimport_s={reimport_s:.3f} balanced={'yes' if balanced else 'no'}"
        )


if __name__ == "__main__":
    main()
