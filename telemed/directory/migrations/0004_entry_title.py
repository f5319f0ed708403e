from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_titles(apps, schema_editor):
    """The entries written before the column carry the title their doctor chose: the results
    show it from the first search, not after the next sweep."""
    entry = apps.get_model("directory", "DirectoryEntry")
    profile = apps.get_model("accounts", "DoctorProfile")
    # Only the rows whose doctor chose another title than the column's default are written.
    entry.objects.exclude(doctor__title="dott").update(
        title=Subquery(profile.objects.filter(pk=OuterRef("doctor_id")).values("title")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_doctor_title"),
        ("directory", "0003_postgres_vectors_trigger"),
    ]

    operations = [
        migrations.AddField(
            model_name="directoryentry",
            name="title",
            field=models.CharField(choices=[("dott", "Dott."), ("dottssa", "Dott.ssa")], default="dott", max_length=8),
        ),
        migrations.RunPython(copy_titles, migrations.RunPython.noop),
    ]
