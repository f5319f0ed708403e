"""The directory's own tables: one denormalised search row per public doctor, and the sweep's state.

A ``DirectoryEntry`` is a copy, built by ``services.directory_entries_refresh`` from
accounts and billing, shaped for fast filtering and ranking: every filter of the
search page is a plain column (or a space-delimited list of codes) on this one
table, so a search page is one count and one page query whatever the data size.
The entry is never the truth: the profile page always reads the live data, and
the sweep (``tasks.directory_sweep``) keeps entries fresh — see ``services``.

On PostgreSQL the migrations add the text-search configuration (Italian with unaccent),
the GIN indexes on the full-text vector and the facets, a trigram index on the vocabulary,
and the trigger that computes the vectors from the row. On SQLite the same columns are
matched with LIKE on normalised text.
"""

from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import DoctorProfile, DoctorTitle

# Price columns, one per kind of service: the lowest total a patient pays for it
# (pricing module, patient view), NULL when the doctor does not offer it.
PRICE_FIELDS = {
    "info": "price_info",
    "base": "price_base",
    "imaging": "price_imaging",
    "priority": "price_priority",
    "video": "price_video",
}


class VectorField(SearchVectorField):
    """A tsvector that only PostgreSQL writes (a trigger, migration 0003, computes it from the row); NULL on SQLite.

    Presented to Django's bulk insert as a plain column so that a batch of entries is written
    with one ``INSERT … SELECT * FROM UNNEST(…)`` (the vectors are always NULL there): an order
    of magnitude less work for the client than one placeholder per value.
    """

    def get_internal_type(self) -> str:
        return "TextField"


def _price(label) -> models.DecimalField:
    return models.DecimalField(label, max_digits=8, decimal_places=2, null=True, blank=True)


class DirectoryEntry(models.Model):
    doctor = models.OneToOneField(
        DoctorProfile, primary_key=True, on_delete=models.CASCADE, related_name="directory_entry"
    )
    slug = models.SlugField(max_length=120, db_index=False)
    # Shown as is (first name, a space, last name, exactly as accounts stores them), after the
    # title the doctor chose ("Dott.", "Dott.ssa"), which is translated when the row is shown.
    display_name = models.CharField(max_length=170)
    title = models.CharField(max_length=8, choices=DoctorTitle.choices, default=DoctorTitle.DOTT)
    # Normalised (lower case, no accents, no punctuation): "mario rossi"; and "rossi mario" to sort by.
    name_text = models.CharField(max_length=170)
    sort_name = models.CharField(max_length=170)
    # SQLite: the normalised text words are matched in (name, specialties in Italian and English,
    # city, province, structure). Left empty on PostgreSQL, which matches in ``search_vector``.
    search_text = models.TextField(blank=True)
    # The pieces of the full-text vector (weights: name A, specialties B, place C).
    specialty_text = models.TextField(blank=True)
    place_text = models.TextField(blank=True)
    # PostgreSQL only (NULL on SQLite): the full-text vector, and the filter values as verbatim
    # lexemes ("s.cardiologia", "l.en", "k.priority") so that one GIN index answers every list filter.
    search_vector = VectorField(null=True, editable=False)
    facets = VectorField(null=True, editable=False)
    # Codes delimited by spaces on both sides, so that " cardiologia " matches one code exactly.
    specialty_codes = models.CharField(max_length=800)
    language_codes = models.CharField(max_length=100)
    city = models.CharField(max_length=100)
    city_key = models.CharField(max_length=100)
    province = models.CharField(max_length=2)
    structure_name = models.CharField(max_length=160, blank=True)
    second_opinion = models.BooleanField()
    verified = models.BooleanField()
    price_info = _price(_("Info request"))
    price_base = _price(_("Consult"))
    price_imaging = _price(_("Consult with radiology images"))
    price_priority = _price(_("Priority consult"))
    price_video = _price(_("Video visit"))
    # The cheapest service that is not an Info request ("from EUR …"); NULL when only Info requests are offered.
    price_from = _price(_("from"))
    # Hook for the visits issue: "first free slot" becomes a column here, filled by the refresh
    # from the visits app's selectors, and a filter of the search form. Nothing fakes it before.
    refreshed_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("directory entry")
        verbose_name_plural = _("directory entries")
        indexes = [
            # The order of a search without words: verified doctors first, then by name.
            models.Index(fields=["-verified", "sort_name", "doctor"], name="directory_entry_order"),
            models.Index(fields=["province", "-verified", "sort_name"], name="directory_entry_province"),
            models.Index(fields=["city_key"], name="directory_entry_city"),
            models.Index(fields=["price_from"], name="directory_entry_price"),
        ]

    def __str__(self) -> str:
        return self.display_name


class DirectorySweep(models.Model):
    """The one row (pk=1) that tells the periodic sweep where it stands.

    ``token`` names the one chain of sweep tasks allowed to run: a task that
    carries another token was superseded and ends at once, so restarting the
    chain can never leave two of them running.
    """

    token = models.CharField(max_length=32, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # Everything changed before this moment (minus a safety margin) is in the entries.
    swept_until = models.DateTimeField(null=True, blank=True)
    # The newest fee rule (platform fee, VAT) priced into the entries; a newer one reprices them all.
    rules_seen_at = models.DateTimeField(null=True, blank=True)
    last_refreshed = models.PositiveIntegerField(default=0)
    last_duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("directory sweep")
        verbose_name_plural = _("directory sweeps")

    def __str__(self) -> str:
        return f"sweep until {self.swept_until}"


class DirectoryWord(models.Model):
    """Every word of the entries' names, places and specialties (normalised): the vocabulary that
    mistyped search words are corrected against, with trigram similarity, on PostgreSQL.

    Words are only added; one that no entry uses any more only costs a wasted suggestion,
    and the full reindex starts the vocabulary afresh.
    """

    word = models.CharField(max_length=100, unique=True)
    # Part of some doctor's name: a search with such a word is ranked by how well names match.
    in_names = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("directory word")
        verbose_name_plural = _("directory words")

    def __str__(self) -> str:
        return self.word
