"""The kinds of notification billing sends (registered in ``BillingConfig.ready``)."""

NOTIFY_PAYMENT_REQUEST = "billing_payment_request"
NOTIFY_PAYMENT_REMINDER = "billing_payment_reminder"
NOTIFY_PAYMENT_RECEIVED = "billing_payment_received"
NOTIFY_INVOICE = "billing_invoice"
NOTIFY_PAYOUT = "billing_payout"
