"""Back office: the staff setting of the free space per box, and a read-only look at boxes.

Documents are not listed here: they are clinical records, read only through the
audited pages. Quota is raised through ``services.box_quota_raise`` (billing), not here.
"""

from django.contrib import admin

from telemed.boxes.models import Box, BoxSettings


@admin.register(BoxSettings)
class BoxSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "free_quota_bytes", "upload_idle_hours"]

    def has_add_permission(self, request):
        return not BoxSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Box)
class BoxAdmin(admin.ModelAdmin):
    list_display = ["owner", "kind", "used_bytes", "reserved_bytes", "system_bytes", "extra_quota_bytes"]
    list_filter = ["kind"]
    search_fields = ["owner__email", "owner__last_name"]
    readonly_fields = [
        "owner",
        "kind",
        "used_bytes",
        "reserved_bytes",
        "system_bytes",
        "extra_quota_bytes",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
