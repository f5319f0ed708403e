"""The forms of consults only parse what was sent; the services decide what is allowed."""

from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.reports.models import ReportKind


class InfoRequestForm(forms.Form):
    text = forms.CharField(label=_("Your question"), max_length=4000, widget=forms.Textarea(attrs={"rows": 5}))
    key = forms.UUIDField(widget=forms.HiddenInput)


class ConsultRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of consult"), widget=forms.RadioSelect)
    question = forms.CharField(label=_("Your question"), max_length=8000, widget=forms.Textarea(attrs={"rows": 8}))
    documents = forms.TypedMultipleChoiceField(
        label=_("Documents from your Welbox"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    studies = forms.TypedMultipleChoiceField(
        label=_("Radiology studies from your Welbox"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    accept = forms.BooleanField(
        label=_("I accept the cost and the response deadline shown for the consult I chose"), required=False
    )
    key = forms.UUIDField(widget=forms.HiddenInput)
    info = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, kinds=(), documents=(), studies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = list(kinds)
        # Any id parses: whether it is the patient's own is the service's question, with its own message.
        self.fields["documents"].choices = [(d.pk, d.name) for d in documents]
        self.fields["documents"].valid_value = lambda value: True
        self.fields["studies"].choices = [(s.pk, str(s)) for s in studies]
        self.fields["studies"].valid_value = lambda value: True


class MessageForm(forms.Form):
    text = forms.CharField(
        label=_("Message"), max_length=8000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    documents = forms.TypedMultipleChoiceField(
        label=_("Attach from your box"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, documents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["documents"].choices = [(d.pk, d.name) for d in documents]
        self.fields["documents"].valid_value = lambda value: True


class DeclineForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class ReportStartForm(forms.Form):
    kind = forms.ChoiceField(label=_("Answer with"), choices=ReportKind.choices, initial=ReportKind.REPORT)


class AnswerForm(forms.Form):
    code = forms.CharField(label=_("Code from your signing app"), max_length=10, required=False)


class InfoAnswerForm(forms.Form):
    answer = forms.CharField(label=_("Answer"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4}))
