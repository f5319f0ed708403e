"""What the base layout needs on every page: the role-aware navigation."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import Role
from telemed.notifications.selectors import unread_count

# Each role sees the links of its own work; later apps add their entries here.
NAVIGATION = {
    Role.PATIENT: [
        ("portal:dashboard", _("My page")),
        ("boxes:home", _("Welbox")),
        ("directory:search", _("Find a doctor")),
        ("consults:mine", _("My consults")),
        ("care:links", _("My doctors")),
        ("visits:list", _("Video visits")),
        ("reminders:agenda", _("Health agenda")),
        ("messaging:inbox", _("Messages")),
        ("billing:payments", _("Payments")),
        ("accounts:profile_edit", _("My profile")),
    ],
    Role.DOCTOR: [
        ("portal:dashboard", _("My page")),
        ("care:links", _("My patients")),
        ("visits:list", _("Video visits")),
        ("consults:queue", _("Consults")),
        ("boxes:home", _("Medbox")),
        ("reminders:patients", _("Reminders")),
        ("messaging:inbox", _("Messages")),
        ("billing:tariffs", _("Services and tariffs")),
        ("billing:home", _("Billing")),
        ("accounts:profile_edit", _("My profile")),
        ("directory:search", _("Colleagues")),
    ],
    Role.SECRETARY: [("portal:dashboard", _("My page")), ("consults:info_inbox", _("Info requests"))],
    Role.STRUCTURE_MANAGER: [
        ("portal:dashboard", _("My structure")),
        ("billing:structure_tariffs", _("Tariffs")),
        ("directory:search", _("Directory")),
    ],
    Role.STAFF: [
        ("portal:dashboard", _("My page")),
        ("billing:staff_reconciliation", _("Reconciliation")),
        ("billing:staff_payouts", _("Payouts")),
        ("consults:overdue", _("Overdue consults")),
        ("admin:index", _("Back office")),
    ],
}
ANONYMOUS = [("directory:search", _("Find a doctor"))]


def navigation(request):
    user = getattr(request, "user", None)
    entries = NAVIGATION.get(user.role, []) if user is not None and user.is_authenticated else ANONYMOUS
    items = []
    for name, label in entries:
        url = reverse(name)
        items.append({"url": url, "label": label, "current": request.path.startswith(url)})
    unread = unread_count(user) if user is not None and user.is_authenticated else 0
    return {"nav_items": items, "unread_notifications": unread}
