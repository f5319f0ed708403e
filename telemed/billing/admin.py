"""Back office for platform staff: the fee rules (versioned: a change adds a row from now on), charities.

Fee rules are never edited in place nor deleted: "Add" creates the new version
through the billing services, which close the previous one; the old rows stay
readable as history.
"""

from django.contrib import admin

from telemed.billing import forms, services
from telemed.billing.models import (
    BankFeeSetting,
    Charity,
    DoctorBillingSettings,
    PlatformFee,
    Tariff,
    VatSetting,
)


class VersionedAdmin(admin.ModelAdmin):
    """Add-only: staff add a new version; existing versions are read-only history."""

    list_filter = [("valid_to", admin.EmptyFieldListFilter)]
    readonly_fields = ["valid_from", "valid_to", "set_by"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*self.form._meta.fields, *self.readonly_fields] if obj is not None else []

    def get_fields(self, request, obj=None):
        return [*self.form._meta.fields, *self.readonly_fields] if obj is not None else list(self.form._meta.fields)

    def save_model(self, request, obj, form, change):
        created = self.set_version(request.user, form.cleaned_data)
        obj.pk = created.pk
        obj.valid_from = created.valid_from
        obj._state.adding = False

    def set_version(self, actor, data):
        raise NotImplementedError


@admin.register(PlatformFee)
class PlatformFeeAdmin(VersionedAdmin):
    form = forms.PlatformFeeAdminForm
    list_display = ["kind", "fee", "valid_from", "valid_to", "set_by"]
    list_filter = ["kind", *VersionedAdmin.list_filter]

    def set_version(self, actor, data):
        return services.platform_fee_set(actor=actor, kind=data["kind"], fee=data["fee"])


@admin.register(VatSetting)
class VatSettingAdmin(VersionedAdmin):
    form = forms.VatSettingAdminForm
    list_display = ["__str__", "platform_fee_exempt", "platform_fee_rate", "valid_from", "valid_to", "set_by"]

    def set_version(self, actor, data):
        return services.vat_setting_set(
            actor=actor, platform_fee_exempt=data["platform_fee_exempt"], platform_fee_rate=data["platform_fee_rate"]
        )


@admin.register(BankFeeSetting)
class BankFeeSettingAdmin(VersionedAdmin):
    form = forms.BankFeeSettingAdminForm
    list_display = ["fixed", "percent", "valid_from", "valid_to", "set_by"]

    def set_version(self, actor, data):
        return services.bank_fee_set(actor=actor, fixed=data["fixed"], percent=data["percent"])


@admin.register(Charity)
class CharityAdmin(admin.ModelAdmin):
    list_display = ["name", "website", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name"]

    def has_delete_permission(self, request, obj=None):
        # Donations refer to charities: retire one by unticking "can be chosen".
        return False


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    """Read-only: doctors and structures set tariffs; staff can look them up."""

    list_display = ["doctor", "kind", "duration_minutes", "offered", "fee", "set_by_structure", "valid_from", "valid_to"]
    list_filter = ["kind", "offered", ("valid_to", admin.EmptyFieldListFilter)]
    search_fields = ["doctor__user__last_name", "doctor__user__email"]
    list_select_related = ["doctor__user", "set_by_structure"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DoctorBillingSettings)
class DoctorBillingSettingsAdmin(admin.ModelAdmin):
    list_display = ["doctor", "donation_percent", "charity", "updated_at"]
    list_select_related = ["doctor__user", "charity"]
    search_fields = ["doctor__user__last_name", "doctor__user__email"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

