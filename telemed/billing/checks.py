"""System checks of billing's settings: a wrong platform IBAN would send every patient's money nowhere."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from telemed.billing import exports, payments, transfer


@register()
def platform_account_check(app_configs, **kwargs):
    if not settings.BILLING_IBAN:
        # Unset (production before the account is opened): pages say payments are not available yet.
        return []
    try:
        transfer.platform_account()
    except transfer.AccountMisconfigured as error:
        return [
            Error(
                str(error),
                hint="Set TELEMED_BANK_BENEFICIARY, TELEMED_BANK_IBAN (and TELEMED_BANK_BIC).",
                id="billing.E001",
            )
        ]
    return []


@register()
def reminder_days_check(app_configs, **kwargs):
    raw = str(settings.BILLING_REMINDER_DAYS).strip()
    if raw and not payments.reminder_days():
        return [
            Warning(
                "TELEMED_PAYMENT_REMINDER_DAYS has no valid day: no payment reminder will be sent.", id="billing.W001"
            )
        ]
    return []


@register()
def sts_certificate_check(app_configs, **kwargs):
    """The Sanitel certificate must be readable, and its key small enough that an encrypted fiscal
    code fits the Sistema TS schema (256 characters: RSA 1024, as the Sanitel key is, gives 172);
    otherwise every Sistema TS file would be refused."""
    if not settings.BILLING_STS_CERTIFICATE:
        return []
    hint = "Set TELEMED_STS_CERTIFICATE to the Sanitel certificate (SanitelCF.cer) of the Sistema TS."
    try:
        encrypt = exports.StsEncryptor(settings.BILLING_STS_CERTIFICATE)
        length = len(encrypt("RSSMRA85M01H501Q"))
    except (OSError, ValueError, TypeError, AttributeError) as error:
        return [Error(f"TELEMED_STS_CERTIFICATE cannot be used: {error}", hint=hint, id="billing.E002")]
    if length > exports.ENCRYPTED_FISCAL_CODE_MAX:
        return [Error(
            f"TELEMED_STS_CERTIFICATE's key gives encrypted fiscal codes of {length} characters; "
            f"the Sistema TS schema allows {exports.ENCRYPTED_FISCAL_CODE_MAX}.", hint=hint, id="billing.E002",
        )]  # fmt: skip
    return []
