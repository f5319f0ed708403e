from django.contrib import admin

from telemed.dicom.models import CdImport, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    # Metadata only: the back office never shows images or patient names from the CD.
    list_display = ["id", "box", "modalities", "study_date", "series_count", "instance_count", "size", "created_at"]
    list_filter = ["modalities"]
    fields = list_display
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False


@admin.register(CdImport)
class CdImportAdmin(admin.ModelAdmin):
    list_display = ["id", "box", "state", "received_files", "imported_count", "skipped_count", "error", "created_at"]
    list_filter = ["state"]
    readonly_fields = [field.name for field in CdImport._meta.fields]

    def has_add_permission(self, request):
        return False
