"""Back office: staff may read the audit trail, and nothing else. Nobody edits it from a UI."""

from django.contrib import admin

from telemed.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "target_type", "target_label", "patient", "ip_address"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_label", "target_label", "target_id", "ip_address"]
    date_hierarchy = "at"
    list_select_related = ["patient"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}  # no bulk delete either
