"""Benchmark of issuing signed reports: render to PDF/A and sign, one at a time and in a batch of 50.

    make bench NAME=signing

In one run (about a minute), on a fresh database (a temporary SQLite file, or the PostgreSQL
database named in DATABASE_URL when its name contains "bench" — it is then dropped and recreated):

1. migrates, creates the platform CA, a doctor with an enrolled signing device, a linked patient;
2. times ``reports.services.report_sign`` — the real path: render with WeasyPrint, check the
   signing code, PAdES sign with pyHanko, write the record, store the file, enqueue the delivery
   — for 20 reports, each with a fresh code (the codes' clock is moved on, not waited for);
3. times, in the same run, a bare pyHanko signature of the same rendered PDF with the same
   certificate (``SimpleSigner`` + ``sign_pdf``, invisible field) as the baseline;
4. times ``reports_sign_batch`` on 50 drafts with one code, 3 times;
5. prints the medians and the ratio, and ends with
   ``RESULT signing sign_ms=… pyhanko_ms=… ratio=… batch50_ms=…``.

Nothing leaves 127.0.0.1 (no time-stamping authority is configured). Target: one report
rendered and signed in under 500 ms.
"""

import io
import statistics
import time

from harness import scratch_platform, setup_django_on_scratch

SINGLE_RUNS = 20
BASELINE_RUNS = 20
BATCH_SIZE = 50
BATCH_RUNS = 3


class Clock:
    """The time the signing codes are computed and checked at: each signature needs a new code,
    and a real doctor would wait 30 s for it; the benchmark moves this clock on instead."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def main() -> None:
    with scratch_platform() as (var_dir, database_url):
        setup_django_on_scratch(var_dir, database_url)
        measure()


def measure() -> None:
    import datetime

    import django_otp.oath
    from asn1crypto import keys, x509
    from django_otp.oath import TOTP
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from telemed.accounts import services as accounts
    from telemed.accounts.models import Language, Sex, Specialty
    from telemed.care import services as care
    from telemed.portal.management.commands.load_demo import demo_codice_fiscale, demo_iban, demo_partita_iva, demo_pdf
    from telemed.reports import pdf, services
    from telemed.signatures import services as signing
    from telemed.signatures import totp
    from telemed.signatures.models import SigningCertificate
    from telemed.signatures.sealing import unseal

    clock = Clock()
    django_otp.oath.time = clock

    def code(device) -> str:
        clock.now += totp.STEP_SECONDS
        generator = TOTP(totp.secret_of(device), step=totp.STEP_SECONDS, digits=totp.DIGITS)
        generator.time = clock.now
        return f"{generator.token():06d}"

    signing.certificate_authority_create(name="telemed Bench CA")
    birth = datetime.date(1975, 3, 14)
    uploads = [
        accounts.UploadedCertification(
            kind=kind, name=f"{kind.value}.pdf", stream=demo_pdf(kind.label), size=len(demo_pdf(kind.label).getvalue())
        )
        for kind in accounts.CertificationKind
    ]
    doctor = accounts.doctor_register(
        person=accounts.Person(email="bench-doctor@example.test", password="a-Long-enough-passw0rd", first_name="Paola", last_name="Conti"),
        identity=accounts.Identity(codice_fiscale=demo_codice_fiscale("Conti", "Paola", birth, "F", "F205"), birth_date=birth, sex=Sex.FEMALE, phone="+39 333 000 0000"),
        ordine_province="MI", ordine_number="90001", partita_iva=demo_partita_iva(990001), iban=demo_iban(990001),
        practice_address="Via Verdi 1", practice_city="Milano", practice_postcode="20121", practice_province="MI",
        specialties=list(Specialty.objects.filter(code="cardiologia")), languages=list(Language.objects.filter(code="it")),
        certifications=uploads,
    )  # fmt: skip
    patient_birth = datetime.date(1960, 7, 2)
    patient = accounts.patient_register(
        person=accounts.Person(email="bench-patient@example.test", password="a-Long-enough-passw0rd", first_name="Giorgio", last_name="Sala"),
        identity=accounts.Identity(codice_fiscale=demo_codice_fiscale("Sala", "Giorgio", patient_birth, "M", "F205"), birth_date=patient_birth, sex=Sex.MALE, phone="+39 333 000 0001"),
    )  # fmt: skip
    care.care_accept(actor=doctor, link=care.care_request(actor=patient, doctor=doctor))
    device = signing.signing_device_enrol_start(actor=doctor)
    signing.signing_device_confirm(actor=doctor, code=code(device))

    content = services.ReportContent(
        diagnosis="Ipertensione arteriosa essenziale di grado 1, in buon compenso.",
        findings="PA 135/85 mmHg, FC 68 bpm ritmica. ECG: ritmo sinusale, nessuna alterazione della ripolarizzazione. "
        "Ecocardiogramma: normali dimensioni e funzione del ventricolo sinistro (FE 60%).",
        therapy=(
            services.TherapyLine(
                drug="Ramipril 5 mg", dose="1 compressa", schedule="al mattino", duration="continuativa"
            ),
            services.TherapyLine(
                drug="Acido acetilsalicilico 100 mg",
                dose="1 compressa",
                schedule="dopo pranzo",
                duration="continuativa",
            ),
        ),
        notes="Controllo fra 6 mesi con esami ematochimici.",
    )

    def draft():
        return services.report_create(actor=doctor, patient=patient, kind="report", content=content)

    # Warm-up: the first signature builds the appearance font, imports, template caches.
    services.report_sign(actor=doctor, report=draft(), code=code(device))

    single = []
    for _ in range(SINGLE_RUNS):
        report, typed = draft(), code(device)
        started = time.perf_counter()
        services.report_sign(actor=doctor, report=report, code=typed)
        single.append((time.perf_counter() - started) * 1000)

    # The baseline: pyHanko's own signer on the very same PDF and certificate, nothing else.
    certificate = SigningCertificate.objects.select_related("authority").get(doctor=doctor)
    rendered = pdf.render_report_pdf(draft()).getvalue()
    simple = signers.SimpleSigner(
        signing_cert=x509.Certificate.load(bytes(certificate.certificate_der)),
        signing_key=keys.PrivateKeyInfo.load(
            unseal(certificate.sealed_key, purpose=f"signing-key:{certificate.serial_number}")
        ),
        cert_registry=SimpleCertificateStore.from_certs(
            [x509.Certificate.load(bytes(certificate.authority.certificate_der))]
        ),
    )
    metadata = signers.PdfSignatureMetadata(
        field_name="Signature", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(rendered)), metadata, signer=simple, output=io.BytesIO())
    baseline = []
    for _ in range(BASELINE_RUNS):
        started = time.perf_counter()
        signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(rendered)), metadata, signer=simple, output=io.BytesIO())
        baseline.append((time.perf_counter() - started) * 1000)

    batches = []
    for _ in range(BATCH_RUNS):
        drafts, typed = [draft() for _ in range(BATCH_SIZE)], code(device)
        started = time.perf_counter()
        signed = services.reports_sign_batch(actor=doctor, reports=drafts, code=typed)
        batches.append((time.perf_counter() - started) * 1000)
        assert len(signed) == BATCH_SIZE

    sign_ms, pyhanko_ms, batch_ms = statistics.median(single), statistics.median(baseline), statistics.median(batches)
    print(f"render + sign one report (report_sign), {SINGLE_RUNS} runs: median {sign_ms:.1f} ms, "
          f"min {min(single):.1f}, max {max(single):.1f}")  # fmt: skip
    print(f"bare pyHanko sign of the same PDF, {BASELINE_RUNS} runs: median {pyhanko_ms:.1f} ms")
    print(f"ratio (report_sign / bare pyHanko sign): {sign_ms / pyhanko_ms:.2f}")
    print(f"batch of {BATCH_SIZE} with one code, {BATCH_RUNS} runs: median {batch_ms:.0f} ms "
          f"({batch_ms / BATCH_SIZE:.1f} ms per document)")  # fmt: skip
    print(f"target: one report under 500 ms — {'met' if sign_ms < 500 else 'NOT met'}")
    print(
        f"RESULT signing sign_ms={sign_ms:.1f} pyhanko_ms={pyhanko_ms:.1f} ratio={sign_ms / pyhanko_ms:.2f} "
        f"batch50_ms={batch_ms:.0f}"
    )


if __name__ == "__main__":
    main()
