from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VisitsConfig(AppConfig):
    name = "telemed.visits"
    label = "visits"
    verbose_name = _("Video visits")

    def ready(self):
        from telemed.notifications import kinds

        kinds.register("visit_booked", _("Video visits booked"))
        kinds.register("visit_cancelled", _("Video visits cancelled or moved"))
        kinds.register("visit_moved", _("Video visits moved"))
        kinds.register("visit_proposal", _("Requests for another visit date"))
        kinds.register("visit_reminder", _("Reminders of video visits"))
        # An e-mail would come too late for a patient waiting now; a push on the phone does not.
        kinds.register(
            "visit_waiting", _("Patients waiting in the video room"), email_by_default=False, push_by_default=True
        )
        kinds.register("visit_report", _("Reports of video visits"))
