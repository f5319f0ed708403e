from django.db import migrations, models


def title_from_sex(apps, schema_editor):
    # The codice fiscale's sex is the best guess until the doctor chooses: a woman is "Dott.ssa".
    DoctorProfile = apps.get_model("accounts", "DoctorProfile")
    DoctorProfile.objects.filter(sex="F").update(title="dottssa")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_security_events_sessions_and_throttle"),
    ]

    operations = [
        migrations.AddField(
            model_name="doctorprofile",
            name="title",
            field=models.CharField(
                choices=[("dott", "Dott."), ("dottssa", "Dott.ssa")], default="dott", max_length=8, verbose_name="title"
            ),
        ),
        migrations.RunPython(title_from_sex, migrations.RunPython.noop),
    ]
