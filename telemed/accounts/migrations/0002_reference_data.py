"""The controlled list of specialties (Italian names as in the ordinamento delle scuole di
specializzazione, plus general practice) and the languages doctors declare."""

from django.db import migrations

SPECIALTIES = [
    ("allergologia", "Allergologia e immunologia clinica", "Allergy and clinical immunology"),
    ("anestesia", "Anestesia, rianimazione e terapia del dolore", "Anaesthesia, intensive care and pain medicine"),
    ("angiologia", "Angiologia e chirurgia vascolare", "Angiology and vascular surgery"),
    ("cardiochirurgia", "Cardiochirurgia", "Cardiac surgery"),
    ("cardiologia", "Cardiologia", "Cardiology"),
    ("chirurgia-generale", "Chirurgia generale", "General surgery"),
    ("chirurgia-plastica", "Chirurgia plastica, ricostruttiva ed estetica", "Plastic and reconstructive surgery"),
    ("chirurgia-toracica", "Chirurgia toracica", "Thoracic surgery"),
    ("dermatologia", "Dermatologia e venereologia", "Dermatology and venereology"),
    ("diabetologia", "Diabetologia", "Diabetology"),
    ("endocrinologia", "Endocrinologia e malattie del metabolismo", "Endocrinology and metabolism"),
    ("gastroenterologia", "Gastroenterologia", "Gastroenterology"),
    ("geriatria", "Geriatria", "Geriatrics"),
    ("ginecologia", "Ginecologia e ostetricia", "Obstetrics and gynaecology"),
    ("ematologia", "Ematologia", "Haematology"),
    ("malattie-infettive", "Malattie infettive e tropicali", "Infectious and tropical diseases"),
    ("medicina-del-lavoro", "Medicina del lavoro", "Occupational medicine"),
    ("medicina-dello-sport", "Medicina dello sport e dell'esercizio fisico", "Sports and exercise medicine"),
    ("medicina-fisica", "Medicina fisica e riabilitativa", "Physical and rehabilitation medicine"),
    ("medicina-generale", "Medicina generale", "General practice"),
    ("medicina-interna", "Medicina interna", "Internal medicine"),
    ("medicina-legale", "Medicina legale", "Forensic medicine"),
    ("nefrologia", "Nefrologia", "Nephrology"),
    ("neurochirurgia", "Neurochirurgia", "Neurosurgery"),
    ("neurologia", "Neurologia", "Neurology"),
    ("neuropsichiatria-infantile", "Neuropsichiatria infantile", "Child neuropsychiatry"),
    ("oftalmologia", "Oftalmologia", "Ophthalmology"),
    ("oncologia", "Oncologia medica", "Medical oncology"),
    ("ortopedia", "Ortopedia e traumatologia", "Orthopaedics and traumatology"),
    ("otorinolaringoiatria", "Otorinolaringoiatria", "Otorhinolaryngology (ENT)"),
    ("pediatria", "Pediatria", "Paediatrics"),
    ("pneumologia", "Malattie dell'apparato respiratorio", "Respiratory medicine"),
    ("psichiatria", "Psichiatria", "Psychiatry"),
    ("radiologia", "Radiodiagnostica", "Diagnostic radiology"),
    ("radioterapia", "Radioterapia", "Radiation oncology"),
    ("reumatologia", "Reumatologia", "Rheumatology"),
    ("scienza-alimentazione", "Scienza dell'alimentazione", "Clinical nutrition"),
    ("urologia", "Urologia", "Urology"),
]

LANGUAGES = [
    ("it", "Italiano", "Italian"),
    ("en", "Inglese", "English"),
    ("fr", "Francese", "French"),
    ("de", "Tedesco", "German"),
    ("es", "Spagnolo", "Spanish"),
    ("pt", "Portoghese", "Portuguese"),
    ("ro", "Rumeno", "Romanian"),
    ("sq", "Albanese", "Albanian"),
    ("ar", "Arabo", "Arabic"),
    ("zh", "Cinese", "Chinese"),
    ("uk", "Ucraino", "Ukrainian"),
    ("ru", "Russo", "Russian"),
    ("sl", "Sloveno", "Slovenian"),
]


def load(apps, schema_editor):
    Specialty = apps.get_model("accounts", "Specialty")
    Language = apps.get_model("accounts", "Language")
    for code, name_it, name_en in SPECIALTIES:
        Specialty.objects.update_or_create(code=code, defaults={"name_it": name_it, "name_en": name_en})
    for code, name_it, name_en in LANGUAGES:
        Language.objects.update_or_create(code=code, defaults={"name_it": name_it, "name_en": name_en})


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
