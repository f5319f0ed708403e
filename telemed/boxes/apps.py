from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BoxesConfig(AppConfig):
    name = "telemed.boxes"
    label = "boxes"
    verbose_name = _("Medbox and Welbox")
