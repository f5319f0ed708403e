"""Password rules, with messages in the platform's own catalogue (Django's Italian one lacks
the 5.2 wording of the length rule, which would reach Italian users in English)."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.utils.translation import ngettext


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    def get_error_message(self) -> str:
        return ngettext(
            "This password is too short: it must contain at least %(min_length)d character.",
            "This password is too short: it must contain at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}


class MaximumLengthValidator:
    """Long passphrases are welcome; beyond ``max_length`` characters a password is refused, so
    that hashing cannot be made to cost a denial of service (ASVS 2.1.2)."""

    def __init__(self, max_length: int = 128):
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                ngettext(
                    "This password is too long: it may have at most %(max_length)d character.",
                    "This password is too long: it may have at most %(max_length)d characters.",
                    self.max_length,
                )
                % {"max_length": self.max_length},
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return ngettext(
            "Your password may have at most %(max_length)d character.",
            "Your password may have at most %(max_length)d characters.",
            self.max_length,
        ) % {"max_length": self.max_length}
