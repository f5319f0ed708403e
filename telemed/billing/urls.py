from django.urls import path

from telemed.billing import views

app_name = "billing"

urlpatterns = [
    path("tariffs/", views.doctor_tariffs, name="tariffs"),
    path("tariffs/preview/", views.tariff_preview, name="tariff_preview"),
    path("donation/", views.donation, name="donation"),
    path("structure/tariffs/", views.structure_tariffs, name="structure_tariffs"),
    path("structure/doctors/<int:doctor_id>/tariffs/", views.structure_doctor_tariffs, name="structure_doctor_tariffs"),
    # The doctor's billing.
    path("invoicing/", views.billing_home, name="home"),
    path("issue/", views.issue, name="issue"),
    path("review/", views.review, name="review"),
    path("requests/<int:request_id>/cancel/", views.payment_cancel, name="payment_cancel"),
    path("invoices/<int:invoice_id>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("invoices/<int:invoice_id>/credit-note/", views.credit_note, name="credit_note"),
    path("stamp-duty/", views.stamp_duty, name="stamp_duty"),
    path("payouts/<int:line_id>/", views.payout_statement, name="payout_statement"),
    path("donations/<str:year>.csv", views.donations_csv, name="donations_csv"),
    path("export/", views.export, name="export"),
    path("sistema-ts/<str:year>.xml", views.sts_export, name="sts_export"),
    # Whoever pays.
    path("payments/", views.payments, name="payments"),
    path("payments/<int:request_id>/", views.payment, name="payment"),
    path("storage/", views.storage, name="storage"),
    # Platform staff.
    path("staff/reconciliation/", views.staff_reconciliation, name="staff_reconciliation"),
    path("staff/transfers/<int:transfer_id>/", views.staff_transfer, name="staff_transfer"),
    path("staff/requests/<int:request_id>/mark-paid/", views.staff_mark_paid, name="staff_mark_paid"),
    path("staff/refunds/<int:refund_id>/", views.staff_refund_done, name="staff_refund_done"),
    path("staff/payouts/", views.staff_payouts, name="staff_payouts"),
    path("staff/payouts/<int:batch_id>/pain001.xml", views.staff_payout_file, name="staff_payout_file"),
    path("staff/donations/<str:year>.csv", views.staff_donations_csv, name="staff_donations_csv"),
]
