from django.db import migrations, models


class Migration(migrations.Migration):
    """A CD's file received whole in a batch keeps the header and digest read as it arrived; an
    instance's digest becomes BLAKE3, and the instances stored before keep their SHA-256, named
    as such."""

    dependencies = [("dicom", "0003_verbose_names")]

    operations = [
        migrations.AddField(model_name="importedfile", name="header", field=models.JSONField(blank=True, null=True)),
        migrations.AddField(
            model_name="importedfile", name="digest", field=models.CharField(blank=True, max_length=64)
        ),
        migrations.RenameField(model_name="instance", old_name="sha256", new_name="digest"),
        migrations.AddField(
            model_name="instance",
            name="digest_algorithm",
            field=models.CharField(choices=[("sha256", "SHA-256"), ("blake3", "BLAKE3")], default="sha256", max_length=10),
        ),
        migrations.AlterField(
            model_name="instance",
            name="digest_algorithm",
            field=models.CharField(choices=[("sha256", "SHA-256"), ("blake3", "BLAKE3")], default="blake3", max_length=10),
        ),
    ]
