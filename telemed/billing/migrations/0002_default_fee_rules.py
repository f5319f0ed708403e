"""The fee rules a new installation starts with, and a first list of charities.

Staff change all of them in the back office; the values below hold from 1 January
2026 (Europe/Rome) until then. Platform fees: base consult 3.00, consult with
images 4.00, priority consult 5.00, video visit 4.00 (Info requests are free).
Bank fees: 0.50 EUR per paid service, charged to the doctor. The platform fee is
exempt from VAT, like the doctor's fee.
"""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import migrations

VALID_FROM = datetime.datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Rome"))

PLATFORM_FEES = {
    "base": Decimal("3.00"),
    "imaging": Decimal("4.00"),
    "priority": Decimal("5.00"),
    "video": Decimal("4.00"),
}

CHARITIES = [
    (
        "Fondazione Telethon",
        "Ricerca scientifica sulle malattie genetiche rare. — Research on rare genetic diseases.",
        "https://www.telethon.it/",
    ),
    (
        "Fondazione AIRC per la ricerca sul cancro",
        "Sostegno alla ricerca oncologica in Italia. — Supporting cancer research in Italy.",
        "https://www.airc.it/",
    ),
    (
        "Medici Senza Frontiere Italia",
        "Assistenza medica nelle emergenze umanitarie. — Medical care in humanitarian emergencies.",
        "https://www.medicisenzafrontiere.it/",
    ),
]


def seed(apps, schema_editor):
    PlatformFee = apps.get_model("billing", "PlatformFee")
    VatSetting = apps.get_model("billing", "VatSetting")
    BankFeeSetting = apps.get_model("billing", "BankFeeSetting")
    Charity = apps.get_model("billing", "Charity")
    for kind, fee in PLATFORM_FEES.items():
        if not PlatformFee.objects.filter(kind=kind).exists():
            PlatformFee.objects.create(kind=kind, fee=fee, valid_from=VALID_FROM)
    if not VatSetting.objects.exists():
        VatSetting.objects.create(platform_fee_exempt=True, platform_fee_rate=Decimal("22.00"), valid_from=VALID_FROM)
    if not BankFeeSetting.objects.exists():
        BankFeeSetting.objects.create(fixed=Decimal("0.50"), percent=Decimal("0.00"), valid_from=VALID_FROM)
    for name, description, website in CHARITIES:
        Charity.objects.get_or_create(name=name, defaults={"description": description, "website": website})


def unseed(apps, schema_editor):
    # The seeded rows may be referenced by history by now: leave them in place.
    pass


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
