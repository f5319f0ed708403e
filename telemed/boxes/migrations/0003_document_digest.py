from django.db import migrations, models


class Migration(migrations.Migration):
    """The document's digest becomes BLAKE3, computed as the bytes are written; documents already
    stored keep their SHA-256, named as such."""

    dependencies = [("boxes", "0002_staged_file")]

    operations = [
        migrations.RenameField(model_name="document", old_name="sha256", new_name="digest"),
        migrations.AddField(
            model_name="document",
            name="digest_algorithm",
            field=models.CharField(choices=[("sha256", "SHA-256"), ("blake3", "BLAKE3")], default="sha256", max_length=10),
        ),
        migrations.AlterField(
            model_name="document",
            name="digest_algorithm",
            field=models.CharField(choices=[("sha256", "SHA-256"), ("blake3", "BLAKE3")], default="blake3", max_length=10),
        ),
    ]
