"""Back office for platform staff: the fee rules (versioned: a change adds a row from now on), charities.

Fee rules are never edited in place nor deleted: "Add" creates the new version
through the billing services, which close the previous one; the old rows stay
readable as history.
"""

from django import forms as django_forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from telemed.billing import charities, forms, storage_purchases, tariffs
from telemed.billing.models import (
    BankFeeSetting,
    Charity,
    DoctorBillingSettings,
    IncomingTransfer,
    Invoice,
    LedgerEntry,
    PaymentRequest,
    PayoutBatch,
    PlatformFee,
    StoragePlan,
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
        return tariffs.platform_fee_set(actor=actor, kind=data["kind"], fee=data["fee"])


@admin.register(VatSetting)
class VatSettingAdmin(VersionedAdmin):
    form = forms.VatSettingAdminForm
    list_display = ["__str__", "platform_fee_exempt", "platform_fee_rate", "valid_from", "valid_to", "set_by"]

    def set_version(self, actor, data):
        return tariffs.vat_setting_set(
            actor=actor, platform_fee_exempt=data["platform_fee_exempt"], platform_fee_rate=data["platform_fee_rate"]
        )


@admin.register(BankFeeSetting)
class BankFeeSettingAdmin(VersionedAdmin):
    form = forms.BankFeeSettingAdminForm
    list_display = ["fixed", "percent", "valid_from", "valid_to", "set_by"]

    def set_version(self, actor, data):
        return tariffs.bank_fee_set(actor=actor, fixed=data["fixed"], percent=data["percent"])


class CharityAdminForm(django_forms.ModelForm):
    website = django_forms.URLField(label=_("website"), required=False, assume_scheme="https")

    class Meta:
        model = Charity
        fields = ["name", "description", "website", "codice_fiscale", "iban", "active"]

    def clean_iban(self):
        value = self.cleaned_data["iban"]
        if not value:
            return value
        try:
            return charities.iban_clean(value)
        except ValidationError as error:
            raise django_forms.ValidationError(error.message_dict["iban"]) from None

    def clean(self):
        cleaned = super().clean()
        if "iban" not in self.errors:
            try:
                charities.offer_check(active=cleaned.get("active", False), iban=cleaned.get("iban", ""))
            except ValidationError as error:
                self.add_error("iban", error.message_dict["iban"])
        return cleaned


@admin.register(Charity)
class CharityAdmin(admin.ModelAdmin):
    form = CharityAdminForm
    list_display = ["name", "website", "iban", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name"]

    def has_delete_permission(self, request, obj=None):
        # Donations refer to charities: retire one by unticking "can be chosen".
        return False


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    """Read-only: doctors and structures set tariffs; staff can look them up."""

    list_display = [
        "doctor",
        "kind",
        "duration_minutes",
        "offered",
        "fee",
        "set_by_structure",
        "valid_from",
        "valid_to",
    ]
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


# --- the billing flow: storage plans are staff's to set; the money records are read-only here ----


@admin.register(StoragePlan)
class StoragePlanAdmin(admin.ModelAdmin):
    """Plans are changed through the service, so that its limits hold here too."""

    list_display = ["name", "for_box", "extra_gigabytes", "price", "active"]
    list_filter = ["for_box", "active"]
    fields = ["name", "for_box", "extra_gigabytes", "price", "active"]

    def has_delete_permission(self, request, obj=None):
        return False  # purchases refer to plans: take one off sale instead

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        from django.core.exceptions import ValidationError

        try:
            saved = storage_purchases.storage_plan_set(
                actor=request.user, name=obj.name, for_box=obj.for_box, extra_gigabytes=obj.extra_gigabytes,
                price=obj.price, active=obj.active,
            )  # fmt: skip
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), level="error")
            return
        obj.pk = saved.pk


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records change only through the billing services (and are never deleted)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = ["display_number", "kind", "doctor", "patient", "issued_at", "total", "sts_opposition"]
    list_filter = ["kind", "year"]
    search_fields = ["doctor__user__last_name", "patient__last_name", "patient__email"]
    list_select_related = ["doctor__user", "patient"]


@admin.register(PaymentRequest)
class PaymentRequestAdmin(ReadOnlyAdmin):
    list_display = ["reference", "payer", "description", "amount", "received", "status", "created_at", "paid_at"]
    list_filter = ["status"]
    search_fields = ["reference", "payer__email", "payer__last_name"]
    list_select_related = ["payer"]


@admin.register(IncomingTransfer)
class IncomingTransferAdmin(ReadOnlyAdmin):
    list_display = ["booked_on", "amount", "currency", "debtor_name", "reference", "status", "queue_reason"]
    list_filter = ["status", "queue_reason"]
    search_fields = ["reference", "debtor_name", "remittance"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "operation", "account", "amount", "doctor", "charity", "payment_request"]
    list_filter = ["operation", "account"]
    list_select_related = ["doctor__user", "charity", "payment_request"]


@admin.register(PayoutBatch)
class PayoutBatchAdmin(ReadOnlyAdmin):
    list_display = ["number", "execution_date", "total", "created_by", "created_at"]
    exclude = ["xml"]
