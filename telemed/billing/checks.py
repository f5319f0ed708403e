"""System checks of billing's settings: a wrong platform IBAN would send every patient's money nowhere."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from telemed.billing import payments, transfer


@register()
def platform_account_check(app_configs, **kwargs):
    if not settings.BILLING_IBAN:
        # Unset (production before the account is opened): pages say payments are not available yet.
        return []
    try:
        transfer.platform_account()
    except transfer.AccountMisconfigured as error:
        return [Error(str(error), hint="Set TELEMED_BANK_BENEFICIARY, TELEMED_BANK_IBAN (and TELEMED_BANK_BIC).", id="billing.E001")]
    return []


@register()
def reminder_days_check(app_configs, **kwargs):
    raw = str(settings.BILLING_REMINDER_DAYS).strip()
    if raw and not payments.reminder_days():
        return [Warning("TELEMED_PAYMENT_REMINDER_DAYS has no valid day: no payment reminder will be sent.", id="billing.W001")]
    return []
