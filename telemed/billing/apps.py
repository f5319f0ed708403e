from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "telemed.billing"
    label = "billing"
    verbose_name = _("Billing")

    def ready(self):
        from telemed.billing import (
            checks,  # noqa: F401 - registers the system checks
            notices,
        )
        from telemed.notifications import kinds

        # Payment requests, reminders and invoices have their own e-mail (with the QR code or the PDF):
        # the generic "something arrived" e-mail would only repeat it. A push does not: a payment
        # request reaches the phone by default.
        kinds.register(
            notices.NOTIFY_PAYMENT_REQUEST, _("Payment requests"), email_by_default=False, push_by_default=True
        )
        kinds.register(notices.NOTIFY_PAYMENT_REMINDER, _("Payment reminders"), email_by_default=False)
        kinds.register(notices.NOTIFY_PAYMENT_RECEIVED, _("Payments received"))
        kinds.register(notices.NOTIFY_INVOICE, _("Invoices and credit notes"), email_by_default=False)
        kinds.register(notices.NOTIFY_PAYOUT, _("Payouts"))
