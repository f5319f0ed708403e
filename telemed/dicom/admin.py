"""Back office: studies and CD imports, metadata only. A staff member opening a study's page
reads clinical data: it is recorded in the patient's access log, as any other reading."""

from django.contrib import admin

from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record
from telemed.dicom.models import CdImport, Study
from telemed.dicom.services import study_patient


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    # Metadata only: the back office never shows images or patient names from the CD.
    list_display = ["id", "box", "modalities", "study_date", "series_count", "instance_count", "size", "created_at"]
    list_filter = ["modalities"]
    fields = list_display
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        study = self.get_object(request, object_id)
        if study is not None and request.method == "GET":
            audit_record(
                actor=request.user, action=AuditAction.VIEW, target=study, patient=study_patient(study), request=request
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(CdImport)
class CdImportAdmin(admin.ModelAdmin):
    list_display = ["id", "box", "state", "received_files", "imported_count", "skipped_count", "error", "created_at"]
    list_filter = ["state"]
    readonly_fields = [field.name for field in CdImport._meta.fields]

    def has_add_permission(self, request):
        return False
