"""Forms of billing: they parse what users type; the services decide whether it is acceptable."""

from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.billing import selectors, validation
from telemed.billing.models import BankFeeSetting, PlatformFee, ResponseUnit, VatSetting


class AmountField(forms.DecimalField):
    """A decimal typed the Italian or the English way: "45,50" and "45.50" are both 45.50."""

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip().replace("€", "").replace(" ", "")
            if value.count(",") == 1 and "." not in value:
                value = value.replace(",", ".")
        return super().to_python(value)


def _fee_field(label) -> forms.DecimalField:
    return AmountField(
        label=label,
        required=False,
        localize=True,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 8}),
    )


class TariffForm(forms.Form):
    """One service of one doctor: offered or not, its fee, and the response time committed to."""

    offered = forms.BooleanField(label=_("Offered to patients"), required=False)
    fee = _fee_field(_("Fee (EUR)"))
    response_value = forms.IntegerField(
        label=_("Response within"), required=False, widget=forms.NumberInput(attrs={"min": 1, "size": 4})
    )
    response_unit = forms.ChoiceField(label=_("Unit"), required=False, choices=[("", "—"), *ResponseUnit.choices])


class DonationForm(forms.Form):
    percent = AmountField(
        label=_("Share of your fees to donate (%)"),
        localize=True,
        help_text=_("From 0 to 100, computed on your fee net of bank fees."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 6}),
    )
    charity = forms.ModelChoiceField(
        label=_("Charity"), queryset=selectors.charity_list(), required=False, empty_label=_("No donation")
    )


# --- the back office: the same limits as the services, checked before the admin saves -----------


class _AdminRuleForm(forms.ModelForm):
    checks: dict = {}

    def clean(self):
        cleaned = super().clean()
        for name, check in self.checks.items():
            if name in cleaned and not self.has_error(name):
                try:
                    cleaned[name] = check(cleaned[name])
                except forms.ValidationError as error:
                    self.add_error(None, error)
        return cleaned


class PlatformFeeAdminForm(_AdminRuleForm):
    checks = {"fee": lambda value: validation.clean_amount(value, field="fee", maximum=validation.MAX_PLATFORM_FEE)}

    class Meta:
        model = PlatformFee
        fields = ["kind", "fee"]

    def clean_kind(self):
        kind = validation.clean_kind(self.cleaned_data["kind"])
        if kind in validation.FREE_KINDS:
            raise forms.ValidationError(_("Info requests are always free: they carry no platform fee."))
        return kind


class VatSettingAdminForm(_AdminRuleForm):
    checks = {"platform_fee_rate": lambda value: validation.clean_percent(value, field="platform_fee_rate")}

    class Meta:
        model = VatSetting
        fields = ["platform_fee_exempt", "platform_fee_rate"]


class BankFeeSettingAdminForm(_AdminRuleForm):
    checks = {
        "fixed": lambda value: validation.clean_amount(value, field="fixed", maximum=validation.MAX_BANK_FEE),
        "percent": lambda value: validation.clean_percent(value, field="percent"),
    }

    class Meta:
        model = BankFeeSetting
        fields = ["fixed", "percent"]


# --- billing: proformas, payments, reconciliation, payouts ----------------------------------------


class PaymentDetailsForm(forms.Form):
    payer_address = forms.CharField(
        label=_("Your address for the invoice (optional)"), required=False, max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )  # fmt: skip
    sts_opposition = forms.BooleanField(
        label=_(
            "I oppose sending this expense to the Sistema Tessera Sanitaria (it will not appear in my pre-filled tax return)"
        ),
        required=False,
    )


class CreditNoteForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is the invoice corrected?"), max_length=300, widget=forms.TextInput(attrs={"size": 60})
    )


class StampDutyForm(forms.Form):
    stamp_duty_mode = forms.ChoiceField(label=_("How you pay the stamp duty"), choices=[])

    def __init__(self, *args, **kwargs):
        from telemed.billing.models import StampDutyMode

        super().__init__(*args, **kwargs)
        self.fields["stamp_duty_mode"].choices = StampDutyMode.choices


class ExportForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = forms.DateField(label=_("To (included)"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    format = forms.ChoiceField(label=_("Format"), choices=[("csv", "CSV"), ("xlsx", "XLSX")])

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            raise forms.ValidationError(_("The end of the period comes before its start."))
        if start and end and (end - start).days > 366 * 5:
            raise forms.ValidationError(_("Export at most five years at a time."))
        return cleaned


class StatementUploadForm(forms.Form):
    statement = forms.FileField(label=_("Bank statement (camt.053 XML)"))


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=300)


class TransferActionForm(NoteForm):
    action = forms.ChoiceField(choices=[("apply", "apply"), ("refund", "refund")])
    reference = forms.CharField(label=_("Payment reference (RF…) to apply it to"), max_length=40, required=False)


class MarkPaidForm(forms.Form):
    reason = forms.CharField(label=_("Why is it marked paid by hand?"), max_length=300)


class PayoutRunForm(forms.Form):
    cutoff = forms.DateField(
        label=_("Pay what was received until (included)"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    execution_date = forms.DateField(
        label=_("Execution date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    leave_out_invalid = forms.BooleanField(
        label=_("Leave out payees without a valid IBAN (their money waits for the next batch)"), required=False
    )


class YearForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2100)
