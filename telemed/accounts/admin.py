"""Back office for platform staff: accounts, and the verification of doctors' certifications."""

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from telemed.accounts import second_factor, services
from telemed.accounts.models import (
    Certification,
    DoctorProfile,
    Invitation,
    Language,
    PatientProfile,
    SecretaryProfile,
    SecurityEvent,
    Specialty,
    Structure,
    StructureManagerProfile,
    User,
)


@admin.action(description=_("Reset the second factor (lost phone and recovery codes)"))
def reset_second_factor(modeladmin, request, queryset):
    """Staff check who is asking before this; the account is told by e-mail and the reset is recorded."""
    done = 0
    for user in queryset:
        try:
            second_factor.second_factor_reset_by_staff(actor=request.user, user=user, request=request)
        except PermissionDenied:
            messages.error(request, _("You cannot reset your own second factor here."))
        else:
            done += 1
    if done:
        messages.success(
            request, _("%(count)d second factor(s) reset; the accounts have been told by e-mail.") % {"count": done}
        )


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    actions = [reset_second_factor]
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "role", "is_active", "email_verified_at", "date_joined"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "first_name", "last_name"]
    # Staff never set a person's password or address: the person does, from the security page,
    # and is told (a staff member who could would take over any account unseen).
    readonly_fields = ["email", "date_joined", "last_login", "email_verified_at"]
    fieldsets = [
        (None, {"fields": ["email"]}),
        (_("Person"), {"fields": ["first_name", "last_name", "role", "language"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Dates"), {"fields": ["date_joined", "last_login", "email_verified_at"]}),
    ]

    def user_change_password(self, request, id, form_url=""):
        raise PermissionDenied

    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "first_name", "last_name", "role", "password1", "password2"]})
    ]


class CertificationInline(admin.TabularInline):
    model = Certification
    extra = 0
    fields = ["kind", "original_name", "status", "reviewed_by", "reviewed_at", "uploaded_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(DoctorProfile)
class DoctorProfileAdmin(admin.ModelAdmin):
    list_display = ["__str__", "slug", "ordine_province", "ordine_number", "practice_city", "structure", "created_at"]
    list_filter = ["ordine_province", "specialties", "structure"]
    search_fields = ["user__email", "user__last_name", "codice_fiscale", "ordine_number"]
    raw_id_fields = ["user"]
    inlines = [CertificationInline]


@admin.action(description=_("Mark as verified"))
def verify_certifications(modeladmin, request, queryset):
    for certification in queryset:
        services.certification_review(actor=request.user, certification=certification, approve=True)
    messages.success(request, _("%(count)d certification(s) verified.") % {"count": queryset.count()})


@admin.action(description=_("Mark as rejected"))
def reject_certifications(modeladmin, request, queryset):
    for certification in queryset:
        services.certification_review(actor=request.user, certification=certification, approve=False)
    messages.success(request, _("%(count)d certification(s) rejected.") % {"count": queryset.count()})


@admin.register(Certification)
class CertificationAdmin(admin.ModelAdmin):
    list_display = ["doctor", "kind", "status", "original_name", "uploaded_at", "reviewed_by"]
    list_filter = ["status", "kind"]
    search_fields = ["doctor__user__last_name", "doctor__user__email"]
    readonly_fields = [
        "doctor",
        "kind",
        "document",
        "original_name",
        "content_type",
        "size",
        "uploaded_at",
        "status",
        "reviewed_by",
        "reviewed_at",
    ]
    fields = readonly_fields + ["review_note"]
    actions = [verify_certifications, reject_certifications]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("document"))
    def document(self, obj):
        # Served by the access-checked view: the storage has no public URL.
        return format_html(
            '<a href="{}">{}</a>', reverse("accounts:certification_file", args=[obj.pk]), obj.original_name
        )


admin.site.register(PatientProfile, search_fields=["user__email", "codice_fiscale"], raw_id_fields=["user"])
admin.site.register(SecretaryProfile, raw_id_fields=["user"])
admin.site.register(StructureManagerProfile, raw_id_fields=["user"])
admin.site.register(Structure, list_display=["name", "city", "province"], search_fields=["name"])
admin.site.register(Specialty, list_display=["code", "name_it", "name_en"])
admin.site.register(Language, list_display=["code", "name_it", "name_en"])
admin.site.register(Invitation, list_display=["kind", "email", "invited_by", "created_at", "accepted_at"])


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    list_display = ["at", "user", "kind", "actor", "ip_address"]
    list_filter = ["kind"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "kind", "actor", "at", "ip_address", "user_agent", "previous_email"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# django-otp's own admin pages show every account's login secret and recovery codes: staff
# reset a second factor with the audited action above instead.
for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)

admin.site.site_header = _("telemed back office")
admin.site.site_title = _("telemed back office")
