"""Forms only parse: the rules live in services."""

from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.reports.models import ReportKind
from telemed.reports.services import ReportContent, TherapyLine

THERAPY_ROWS = 5


class NewReportForm(forms.Form):
    patient = forms.ModelChoiceField(label=_("Patient"), queryset=None, empty_label=None)
    kind = forms.ChoiceField(label=_("Document"), choices=ReportKind.choices)

    def __init__(self, *args, patients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = patients
        self.fields["patient"].label_from_instance = lambda user: user.get_full_name()


class ReportContentForm(forms.Form):
    diagnosis = forms.CharField(
        label=_("Diagnosis"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    findings = forms.CharField(
        label=_("Findings"), required=False, max_length=8000, widget=forms.Textarea(attrs={"rows": 6})
    )
    notes = forms.CharField(label=_("Notes"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    nre = forms.CharField(label=_("NRE / NRBE number (from Sistema TS)"), required=False, max_length=20)
    nre_pin = forms.CharField(label=_("PIN"), required=False, max_length=10)


class TherapyForm(forms.Form):
    drug = forms.CharField(label=_("Drug"), required=False, max_length=200)
    dose = forms.CharField(label=_("Dose"), required=False, max_length=100)
    schedule = forms.CharField(label=_("Schedule"), required=False, max_length=200)
    duration = forms.CharField(label=_("Duration"), required=False, max_length=100)


TherapyFormSet = forms.formset_factory(TherapyForm, extra=0, max_num=20, absolute_max=20)


def editor_forms(data) -> tuple[ReportContentForm, forms.BaseFormSet, bool]:
    """The editor's fields as posted (the editor may post to a higher app's page to sign)."""
    content_form = ReportContentForm(data)
    therapy = TherapyFormSet(data, prefix="therapy")
    return content_form, therapy, content_form.is_valid() and therapy.is_valid()


def therapy_lines(therapy) -> tuple[TherapyLine, ...]:
    """The filled rows of a valid therapy formset (the editor's or a higher app's page)."""
    return tuple(
        TherapyLine(drug=row.get("drug", ""), dose=row.get("dose", ""), schedule=row.get("schedule", ""),
                    duration=row.get("duration", ""))
        for row in therapy.cleaned_data if row
    )  # fmt: skip


def editor_content(content_form: ReportContentForm, therapy) -> ReportContent:
    data = content_form.cleaned_data
    return ReportContent(
        diagnosis=data["diagnosis"], findings=data["findings"], notes=data["notes"], nre=data["nre"],
        nre_pin=data["nre_pin"], therapy=therapy_lines(therapy),
    )  # fmt: skip


class BatchSignForm(forms.Form):
    reports = forms.TypedMultipleChoiceField(label=_("Documents"), choices=(), coerce=str)
    code = forms.CharField(
        label=_("Code from your signing app"), max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )  # fmt: skip

    def __init__(self, *args, drafts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reports"].choices = [
            (str(r.public_id), str(r.public_id)) for r in drafts if not r.signed_elsewhere
        ]
