from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DicomConfig(AppConfig):
    name = "telemed.dicom"
    label = "dicom"
    verbose_name = _("Radiology images (DICOM)")
