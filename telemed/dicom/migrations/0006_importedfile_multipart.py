from django.db import migrations, models


class Migration(migrations.Migration):
    """With object storage a CD's file sent in chunks is staged as an S3 multipart upload, kept on its row."""

    dependencies = [("dicom", "0005_study_hidden_from_doctors")]

    operations = [
        migrations.AddField(
            model_name="importedfile", name="multipart_id", field=models.CharField(blank=True, max_length=1024)
        ),
        migrations.AddField(model_name="importedfile", name="parts", field=models.JSONField(blank=True, default=list)),
    ]
