from django import forms
from django.utils.translation import gettext_lazy as _

from telemed.signatures.models import RemoteSignerProvider


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class RemoteSignerForm(forms.Form):
    provider = forms.ModelChoiceField(label=_("Signature provider"), queryset=RemoteSignerProvider.objects.none())
    credential_id = forms.CharField(label=_("Credential ID"), max_length=200)
    access_token = forms.CharField(
        label=_("Access token (if your provider gave you one)"), max_length=2000, required=False,
        widget=forms.PasswordInput(render_value=False),
    )  # fmt: skip

    def __init__(self, *args, providers=None, **kwargs):
        super().__init__(*args, **kwargs)
        if providers is not None:
            self.fields["provider"].queryset = providers


class VerifyForm(forms.Form):
    document = forms.FileField(label=_("Signed PDF"))
