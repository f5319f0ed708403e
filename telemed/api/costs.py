"""The cost of a service as the patient sees it on the page (``billing/_breakdown.html`` with
``patient_view``): each line the patient pays with its payer, its VAT and its amount, the total,
and the notes under the table. Amounts are ``str(Decimal)``, euros with two places; labels are in
the language asked."""

from django.utils.translation import gettext as _
from ninja import Schema

from telemed.billing.pricing import STAMP_DUTY, STAMP_DUTY_THRESHOLD, Breakdown
from telemed.lib.formatting import money


class CostLine(Schema):
    code: str
    label: str
    payer: str
    payer_label: str
    vat_treatment: str
    vat_label: str
    vat_rate: str | None
    amount: str
    vat: str
    total: str


class Cost(Schema):
    service_label: str
    free: bool
    lines: list[CostLine]
    patient_total: str
    notes: list[str]


def cost_of(breakdown: Breakdown) -> dict:
    if breakdown.is_free:
        return {
            "service_label": str(breakdown.service_label),
            "free": True,
            "lines": [],
            "patient_total": str(breakdown.patient_total),
            "notes": [_("Free of charge: nothing to pay.")],
        }
    notes = [breakdown.vat_exemption_note]
    if breakdown.has_stamp_duty:
        notes.append(
            _("A stamp duty of %(duty)s is due because the VAT-exempt amount is over %(threshold)s.")
            % {"duty": money(STAMP_DUTY), "threshold": money(STAMP_DUTY_THRESHOLD)}
        )
    return {
        "service_label": str(breakdown.service_label),
        "free": False,
        "lines": [
            {
                "code": line.code.value,
                "label": line.label,
                "payer": line.payer.value,
                "payer_label": line.payer_label,
                "vat_treatment": line.vat_treatment.value,
                "vat_label": line.vat_label,
                "vat_rate": None if line.vat_rate is None else str(line.vat_rate),
                "amount": str(line.amount),
                "vat": str(line.vat),
                "total": str(line.total),
            }
            for line in breakdown.patient_lines
        ],
        "patient_total": str(breakdown.patient_total),
        "notes": notes,
    }
