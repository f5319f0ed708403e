"""The search form: it reads the filters from the URL (GET), so a search can be shared.

Nothing a visitor can put in the URL makes the page fail: a filter that does not
parse is left out of the search and its field says why; the text is cleaned and
bounded; any page number gives a page.
"""

from decimal import Decimal
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from django import forms
from django.forms.utils import flatatt
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from telemed.directory import selectors
from telemed.lib.text import clean_search_text

MAX_TEXT = 200
MAX_PAGE = 10**6


# The search page is the most requested page of the platform: its widgets render in Python,
# not through one template per field and per option (the same HTML, several times faster).


class FastInput:
    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        shown = format_html(' value="{}"', widget["value"]) if widget["value"] is not None else ""
        return format_html('<input type="{}" name="{}"{}{}>', widget["type"], name, shown, flatatt(widget["attrs"]))


class SearchInput(FastInput, forms.TextInput):
    input_type = "search"


class PriceInput(FastInput, forms.NumberInput):
    pass


class Checkbox(FastInput, forms.CheckboxInput):
    pass


class Select(forms.Select):
    def render(self, name, value, attrs=None, renderer=None):
        choices = tuple((str(code), str(label)) for code, label in self.choices)
        options = _options(choices, "" if value is None else str(value))
        return format_html(
            '<select name="{}"{}>{}</select>', name, flatatt(self.build_attrs(self.attrs, attrs)), options
        )


@lru_cache(maxsize=512)
def _options(choices: tuple[tuple[str, str], ...], chosen: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every value and label is escaped here
        "".join(
            f'<option value="{escape(code)}"{" selected" if code == chosen else ""}>{escape(label)}</option>'
            for code, label in choices
        )
    )


class DirectorySearchForm(forms.Form):
    q = forms.CharField(
        label=_("Name or specialty"),
        required=False,
        strip=False,
        widget=SearchInput(attrs={"maxlength": MAX_TEXT, "autocomplete": "off"}),
    )
    specialty = forms.ChoiceField(label=_("Specialty"), required=False, widget=Select)
    city = forms.CharField(
        label=_("City or province"), required=False, strip=False, widget=SearchInput(attrs={"maxlength": 100})
    )
    language = forms.ChoiceField(label=_("Language spoken"), required=False, widget=Select)
    service = forms.ChoiceField(label=_("Service"), required=False, widget=Select)
    max_price = forms.DecimalField(
        label=_("Maximum price (EUR)"),
        required=False,
        min_value=Decimal("0"),
        max_value=Decimal("10000"),
        max_digits=7,
        decimal_places=2,
        widget=PriceInput(attrs={"min": 0, "max": 10000, "step": 1, "inputmode": "decimal"}),
    )
    second_opinion = forms.BooleanField(label=_("Available for second opinions"), required=False, widget=Checkbox)
    page = forms.CharField(required=False, widget=forms.HiddenInput)
    # The "first free slot" filter comes with video visits (the visits issue): a field here,
    # ``DoctorSearch.first_free_slot`` and a column of ``DirectoryEntry``.

    def __init__(self, data=None, **kwargs):
        data = data.copy() if data is not None else {}
        # A 10,000-character query is cut before anything (the page echoes it back in the field).
        for name, limit in (("q", MAX_TEXT), ("city", 100), ("page", 20)):
            if isinstance(data.get(name), str):
                data[name] = data[name][: limit * 4]
        super().__init__(data, **kwargs)
        any_ = [("", _("Any"))]
        self.fields["specialty"].choices = any_ + selectors.specialty_choices()
        self.fields["language"].choices = any_ + selectors.language_choices()
        self.fields["service"].choices = any_ + selectors.service_choices()

    def clean_q(self) -> str:
        return clean_search_text(self.cleaned_data.get("q") or "", MAX_TEXT)

    def clean_city(self) -> str:
        return clean_search_text(self.cleaned_data.get("city") or "", 100)

    def clean_page(self) -> int:
        """Any page: nonsense or negative is the first, a huge number the last (the selector clamps)."""
        value = (self.cleaned_data.get("page") or "").strip()
        if not value.isdigit() or len(value) > 7:
            return MAX_PAGE if value.isdigit() else 1
        return int(value)

    def _value(self, name: str, default=None):
        """The cleaned value of a field that parsed; the default for one that did not."""
        if not self.is_bound:
            return default
        self.is_valid()  # fills cleaned_data with every field that parsed
        return self.cleaned_data.get(name, default) if name not in self.errors else default

    def criteria(self) -> selectors.DoctorSearch:
        return selectors.DoctorSearch(
            text=self._value("q", ""),
            specialty=self._value("specialty", ""),
            city=self._value("city", ""),
            language=self._value("language", ""),
            service=self._value("service", ""),
            max_price=self._value("max_price"),
            second_opinion=bool(self._value("second_opinion", False)),
        )

    def page_number(self) -> int:
        return self._value("page", 1) or 1

    def query_string(self) -> str:
        """The filters that parsed, as a URL query (without the page), for the pagination links."""
        criteria = self.criteria()
        pairs = [
            ("q", criteria.text),
            ("specialty", criteria.specialty),
            ("city", criteria.city),
            ("language", criteria.language),
            ("service", criteria.service),
            ("max_price", "" if criteria.max_price is None else format(criteria.max_price.normalize(), "f")),
            ("second_opinion", "on" if criteria.second_opinion else ""),
        ]
        return urlencode([(key, value) for key, value in pairs if value])

    def wider_searches(self) -> list[tuple[str, str]]:
        """For an empty result: the same search with fewer filters, widest last, as (label, URL query)."""
        criteria = self.criteria()
        pairs = dict(parse_qsl(self.query_string()))
        filters = {"specialty", "language", "service", "max_price", "second_opinion"}
        wider = []
        if criteria.city:
            wider.append((str(_("The same search in all of Italy")), {k: v for k, v in pairs.items() if k != "city"}))
        if filters & set(pairs):
            wider.append(
                (
                    str(_("The same words and place, without the other filters")),
                    {k: v for k, v in pairs.items() if k not in filters},
                )
            )
        if criteria.text and len(pairs) > 1:
            wider.append((str(_("Only the words typed")), {"q": criteria.text}))
        wider.append((str(_("Every doctor")), {}))
        return [(label, urlencode(query)) for label, query in wider]
