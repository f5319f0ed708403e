from django import forms
from django.utils.translation import gettext_lazy as _


class ErasureAskForm(forms.Form):
    """Who deletes the account confirms it is them: the password, and a current code when the
    account has a second factor."""

    password = forms.CharField(
        label=_("Your password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": _("Enter your password.")},
    )  # fmt: skip
    current_code = forms.CharField(
        label=_("Code of your authenticator app"), required=False, max_length=40,
        help_text=_("The 6-digit code your app shows now, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )  # fmt: skip

    def __init__(self, *args, code_needed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if code_needed:
            self.fields["current_code"].required = True
            self.fields["current_code"].error_messages["required"] = _("Enter the code from your app.")
        else:
            del self.fields["current_code"]
