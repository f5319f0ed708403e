from django import forms
from django.utils.translation import gettext_lazy as _


class CareInviteForm(forms.Form):
    email = forms.EmailField(label=_("Patient's e-mail"))
    message = forms.CharField(
        label=_("Message (optional)"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class CareRequestForm(forms.Form):
    message = forms.CharField(
        label=_("Message to the doctor (optional)"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
