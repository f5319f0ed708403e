from django.apps import AppConfig


class LibConfig(AppConfig):
    name = "telemed.lib"
    label = "lib"
