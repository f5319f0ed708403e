"""How forms render: with Jinja2 and Django's own Jinja2 copies of its form templates.

Django renders every field, label and option of a form through a template of its own; with
Django's template language that is one ``include`` per option, and a doctor's Medbox page (three
forms, a select of every patient) spent half its time there. Django ships the same templates for
Jinja2 (``django/forms/jinja2``), which renders them several times faster and gives the same
HTML. A project template for a widget lives in an app's ``jinja2/`` directory
(``reminders/jinja2/reminders/widgets/times.html``); gettext works there as ``_()``. A template
that exists for Django's template language only (the admin's widgets) renders with it, as before.
"""

from pathlib import Path

import django.forms
import jinja2
from django.forms.renderers import DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist
from django.utils import translation
from django.utils.functional import cached_property


def environment(**options) -> jinja2.Environment:
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], **options)
    env.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
    return env


class FormRenderer(Jinja2):
    @cached_property
    def engine(self):
        return self.backend(
            {
                "APP_DIRS": True,
                "DIRS": [Path(django.forms.__file__).parent / "jinja2"],
                "NAME": "djangoforms",
                "OPTIONS": {"environment": "telemed.lib.form_rendering.environment"},
            }
        )

    @cached_property
    def django_templates(self) -> DjangoTemplates:
        return DjangoTemplates()

    def get_template(self, template_name):
        try:
            return self.engine.get_template(template_name)
        except TemplateDoesNotExist:
            return self.django_templates.get_template(template_name)
