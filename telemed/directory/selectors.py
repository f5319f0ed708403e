"""The public directory: searching doctors and reading a profile, open to everyone.

A search reads ``DirectoryEntry`` rows only, with a fixed number of queries whatever the
number of doctors (see ``doctor_search``); counting and paging stop at MAX_RESULTS.

* PostgreSQL: each word is looked up in a full-text vector — names as typed ('simple'),
  specialties and places in Italian with unaccent and stemming ("cardiologo" finds
  Cardiologia) — together with the known words it may be a typo of (trigram similarity
  against ``DirectoryWord``). Doctors a word names come first, ranked by SearchRank plus
  the trigram similarity of their name; list filters are one GIN lookup in ``facets``.
* SQLite: each word is a substring of the normalised (unaccented, lower-case) text; an
  exact name comes first. A search that finds nothing is tried once more with the known words
  each word may be a typo of (``interpret``: bounded edit distance).

Before either, ``interpret`` reads professional nouns as specialties ("cardiologo") and regions
as their provinces ("Lombardia"): both become indexed filters.

Then a stable order: verified doctors first, then by surname. The profile page reads the
live data, never the entry.
"""

import hashlib
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from urllib.parse import quote

from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Case, F, Func, IntegerField, Max, Q, QuerySet, Value, When
from django.db.models.functions import Concat
from django.urls import reverse
from django.utils.translation import get_language

from telemed.accounts import selectors as accounts
from telemed.accounts.models import titled_name
from telemed.billing import pricing
from telemed.billing import selectors as billing
from telemed.billing.models import CONSULT_KINDS, ServiceKind
from telemed.directory import interpret
from telemed.directory.indexing import TEXT_SEARCH_CONFIG, normalise
from telemed.directory.models import PRICE_FIELDS, DirectoryEntry, DirectoryWord
from telemed.lib.italy import PROVINCES
from telemed.visits import selectors as visits

PAGE_SIZE = 20
# Counting and paging stop here: a search that finds more asks for narrower filters.
MAX_RESULTS = 500
# Up to this many matches PostgreSQL sorts them all (a bitmap of the matches, then a top-N sort);
# beyond, they are dense enough that walking the order index finds a page sooner.
SORT_LIMIT = 2000
MAX_WORDS = 6
# Words people type before a name that say nothing about the doctor.
IGNORED_WORDS = frozenset({"dr", "dott", "dottor", "dottore", "dottssa", "dottoressa", "doc", "prof", "professor"})
# Trigram similarity from which a known word is taken for what a mistyped search word meant.
WORD_SIMILARITY = 0.35
REFERENCE_SECONDS = 300
# Short words that say nothing in a search ("medico di base"); PostgreSQL drops its own stop words too.
STOP_WORDS = frozenset(
    {
        "da",
        "di",
        "del",
        "della",
        "dei",
        "delle",
        "il",
        "lo",
        "la",
        "le",
        "gli",
        "un",
        "una",
        "per",
        "con",
        "in",
        "ed",
        "al",
        "alla",
    }
)
# How long a result page stays in the cache at most: a refresh of the entries ends it sooner
# (see ``doctor_search``). Bump the version when what a page holds changes shape.
RESULTS_CACHE_SECONDS = 60
RESULTS_CACHE_VERSION = 1
# Columns the result list never shows.
UNUSED_ON_RESULTS = ("search_vector", "facets", "search_text", "specialty_text", "place_text")


@dataclass(frozen=True)
class DoctorSearch:
    """What a visitor asks for; every field is already clean (see ``forms.DirectorySearchForm``).

    The visits issue adds ``first_free_slot`` here once video visits have an agenda.
    """

    text: str = ""
    specialty: str = ""
    city: str = ""
    language: str = ""
    service: str = ""
    max_price: Decimal | None = None
    second_opinion: bool = False
    # Set by ``understood``: the provinces of a region the visitor named.
    provinces: tuple[str, ...] = ()

    @property
    def words(self) -> list[str]:
        words = [w for w in normalise(self.text).split() if len(w) > 1 and w not in IGNORED_WORDS | STOP_WORDS]
        return list(dict.fromkeys(words))[:MAX_WORDS]


@dataclass(frozen=True)
class SearchResult:
    """One line of the results, ready to show."""

    entry: DirectoryEntry
    url: str
    name: str
    initials: str
    specialties: str
    place: str
    verified: bool
    second_opinion: bool
    price: Decimal | None  # the price of the asked service, or the cheapest paid one


@dataclass(frozen=True)
class SearchPage:
    results: list[SearchResult]
    number: int
    count: int
    capped: bool  # more than MAX_RESULTS doctors match
    num_pages: int = field(default=1)
    # The words searched instead of those typed (a typo corrected on SQLite), or "".
    corrected: str = ""

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def initials(name: str) -> str:
    return "".join(word[0] for word in name.split()[:3] if word[:1].isalpha()).upper()[:3]


# --- reference lists -----------------------------------------------------------------------------------


_reference_memo: dict = {}


def _reference(name: str) -> list[tuple[str, str]]:
    """Specialties or languages as (code, name in the active language), sorted by name.

    Each process keeps them for a few minutes: they change only with a data migration.
    """
    english = (get_language() or "it").startswith("en")
    key, now = (name, english), time.monotonic()
    memo = _reference_memo.get(key)
    if memo is None or memo[0] < now:
        rows = accounts.specialty_list() if name == "specialties" else accounts.language_list()
        choices = sorted(
            ((row.code, row.name_en if english else row.name_it) for row in rows), key=lambda row: normalise(row[1])
        )
        if not choices:
            return []  # not loaded yet: ask again next time
        memo = _reference_memo[key] = (now + REFERENCE_SECONDS, choices)
    return memo[1]


def specialty_choices() -> list[tuple[str, str]]:
    return _reference("specialties")


def language_choices() -> list[tuple[str, str]]:
    return _reference("languages")


def service_choices() -> list[tuple[str, str]]:
    return [(kind.value, str(kind.label)) for kind in ServiceKind]


# --- the search --------------------------------------------------------------------------------------


def _province_of(place: str) -> str | None:
    """The province code a typed place names: its sigla ("MI") or its name ("Milano", "milano")."""
    if len(place) == 2 and place.upper() in PROVINCES:
        return place.upper()
    key = normalise(place)
    return next((code for code, name in PROVINCES.items() if normalise(name) == key), None)


class LexemeQuery(SearchQuery):
    """A tsquery of verbatim lexemes, all required (no parsing, no stemming): 's.cardiologia' & 'l.en'."""

    def __init__(self, lexemes: list[str]):
        super().__init__(" & ".join("'" + lexeme.replace("\\", "").replace("'", "") + "'" for lexeme in lexemes))

    def as_sql(self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql})::tsquery", params


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _filtered(search: DoctorSearch) -> QuerySet[DirectoryEntry]:
    """Every filter but the words. On PostgreSQL the list filters are one lookup in the facets' GIN index."""
    entries = DirectoryEntry.objects.all()
    if _postgres():
        facets = [f"s.{search.specialty}"] if search.specialty else []
        facets += [f"l.{search.language}"] if search.language else []
        facets += [f"k.{search.service}"] if search.service else []
        if facets:
            entries = entries.filter(facets=LexemeQuery(facets))
    else:
        if search.specialty:
            entries = entries.filter(specialty_codes__contains=f" {search.specialty} ")
        if search.language:
            entries = entries.filter(language_codes__contains=f" {search.language} ")
        if search.service:
            entries = entries.filter(**{f"{PRICE_FIELDS[search.service]}__isnull": False})
    if search.city:
        # A province's name or sigla means the whole province (its chief town included), and
        # lets PostgreSQL read the province's doctors along their (province, order) index.
        province = _province_of(search.city)
        entries = entries.filter(Q(province=province) if province else Q(city_key=normalise(search.city)))
    if search.provinces:
        entries = entries.filter(province__in=search.provinces)
    if search.second_opinion:
        entries = entries.filter(second_opinion=True)
    if search.max_price is not None:
        price_field = PRICE_FIELDS[search.service] if search.service else "price_from"
        entries = entries.filter(**{f"{price_field}__lte": search.max_price})
    return entries


# For each search word: whether the Italian configuration keeps it (not a stop word), and up
# to three known words that look like it (trigram similarity, the index's ``%`` operator).
_CORRECTIONS_SQL = f"""
SELECT q.word, numnode(to_tsquery('{TEXT_SEARCH_CONFIG}', q.word)) > 0, known.word, known.in_names
FROM unnest(%s::text[]) WITH ORDINALITY AS q (word, position)
LEFT JOIN LATERAL (
    SELECT w.word, w.in_names FROM directory_directoryword AS w
    WHERE w.word %% q.word AND similarity(w.word, q.word) >= %s
    ORDER BY similarity(w.word, q.word) DESC, w.word
    LIMIT 3
) AS known ON true
ORDER BY q.position
"""


def _postgres_alternatives(words: list[str]) -> tuple[list[list[str]], bool]:
    """Each word with the known words it may be a typo of (none when it is itself a known word),
    and whether any of them is part of a name. Italian stop words that name nobody are dropped
    ("medicina dello sport"). One query."""
    found: dict[str, dict[str, bool]] = {}
    meaningful: dict[str, bool] = {}
    with connection.cursor() as cursor:
        cursor.execute(_CORRECTIONS_SQL, [words, WORD_SIMILARITY])
        for word, kept, known, in_names in cursor.fetchall():
            meaningful[word] = kept
            if known is not None:
                found.setdefault(word, {})[known] = in_names
    groups, names = [], False
    for word in words:
        known = found.get(word, {})
        alternatives = [word] if word in known else [word, *known]
        named = any(known.get(alternative, False) for alternative in alternatives)
        if meaningful.get(word, True) or named:
            groups.append(alternatives)
            names = names or named
    return groups, names


# The stable order of results that rank the same: verified doctors first, then by name.
STABLE_ORDER = ("-verified", "sort_name", "doctor_id")
# The same order written so that PostgreSQL cannot walk the order index: for a few hundred
# scattered matches, sorting them is far cheaper than walking the index until 20 turn up.
SORTED_ORDER = (
    Func(F("verified"), template="(NOT %(expressions)s)", output_field=BooleanField()).asc(),
    "sort_name",
    "doctor_id",
)


def _word_query(alternatives: list[str]) -> SearchQuery:
    """One search word or the known words it may be a typo of: a name as typed, or a specialty or place."""
    # Words are normalised (letters and digits only): nothing in them means anything to a tsquery.
    text = " | ".join(alternatives)
    return SearchQuery(text, search_type="raw", config="simple") | SearchQuery(
        text, search_type="raw", config=TEXT_SEARCH_CONFIG
    )


@dataclass(frozen=True)
class _Plan:
    """How to read the results: all the matches (to count) and, in order, the tiers to page through.

    ``first``: the doctors one of whose names is among the words (None when no word is part of
    a name), and ``first_ranked``, the same ranked (None when they would all rank the same);
    ``rest``: the other matches. Every query of the plan is bounded by what it returns or by
    MAX_RESULTS, never by the number of doctors.
    """

    matching: QuerySet
    first: QuerySet | None
    first_ranked: QuerySet | None
    rest: QuerySet
    rest_ordered: bool = False  # True when ``rest`` carries its ranking (SQLite)


def _postgres_plan(entries: QuerySet, words: list[str]) -> _Plan:
    """Each word (or a known word it is a typo of) is in the full-text vector: a name as typed
    ('simple' configuration, weight A), or a specialty or place (Italian, unaccented, stemmed).

    The doctors a word names come first, ranked by the full-text rank of their name plus its
    trigram similarity to the words (when more than one word or a typo makes ranks differ:
    one known surname ranks all its doctors the same); the other matches all rank the same
    (a specialty, a city) and follow in the stable order.
    """
    groups, names = _postgres_alternatives(words)
    if not groups:
        return _Plan(matching=entries, first=None, first_ranked=None, rest=entries)
    query = _word_query(groups[0])
    for group in groups[1:]:
        query &= _word_query(group)
    matching = entries.filter(search_vector=query)
    if not names:
        return _Plan(matching=matching, first=None, first_ranked=None, rest=matching)
    anyone = " | ".join(f"{word}:A" for group in groups for word in group)
    named = SearchQuery(anyone, search_type="raw", config="simple")
    first = matching.filter(search_vector=named)
    ranked = None
    if len(groups) > 1 or any(len(group) > 1 for group in groups):
        ranked = first.annotate(
            rank=SearchRank(F("search_vector"), named) + TrigramWordSimilarity(" ".join(words), "name_text")
        ).order_by("-rank", *STABLE_ORDER)
    return _Plan(matching=matching, first=first, first_ranked=ranked, rest=matching.exclude(search_vector=named))


def _sqlite_plan(entries: QuerySet, words: list[str], alternatives: list[list[str]] | None = None) -> _Plan:
    """Each word (or one of its ``alternatives``) is somewhere in the normalised text (name,
    specialties, city, province, structure); an exact name first, then names that have the words
    as whole words, then names that contain them."""
    for group in alternatives or [[word] for word in words]:
        either = Q()
        for word in group:
            either |= Q(search_text__contains=word)
        entries = entries.filter(either)
    phrase = " ".join(words)
    ranked = entries.annotate(
        padded_name=Concat(Value(" "), "name_text", Value(" ")),
        padded_sort=Concat(Value(" "), "sort_name", Value(" ")),
        rank=Case(
            When(Q(name_text=phrase) | Q(sort_name=phrase), then=Value(3)),
            When(Q(padded_name__contains=f" {phrase} ") | Q(padded_sort__contains=f" {phrase} "), then=Value(2)),
            When(name_text__contains=phrase, then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        ),
    ).order_by("-rank", *STABLE_ORDER)
    return _Plan(matching=entries, first=None, first_ranked=None, rest=ranked, rest_ordered=True)


def _plan(search: DoctorSearch) -> _Plan:
    entries = _filtered(search)
    if not (words := search.words):
        return _Plan(matching=entries, first=None, first_ranked=None, rest=entries)
    return _postgres_plan(entries, words) if _postgres() else _sqlite_plan(entries, words)


def _sqlite_corrections(words: list[str]) -> list[list[str]] | None:
    """Each word with the known words it may be a typo of (see ``interpret``); None when no word
    has any. One query per word, along the unique index of ``DirectoryWord.word``."""
    groups, found = [], False
    for word in words:
        limit = interpret.typo_limit(word)
        candidates = (
            DirectoryWord.objects.filter(word__gte=word[0], word__lt=chr(ord(word[0]) + 1))
            .values_list("word", flat=True)
            .order_by("word")[: interpret.MAX_CANDIDATES]
        )
        close = interpret.close_words(word, (c for c in candidates if abs(len(c) - len(word)) <= limit))
        found = found or bool(close)
        groups.append([word, *close])
    return groups if found else None


def understood(search: DoctorSearch) -> DoctorSearch:
    """The search as meant: a professional noun as the specialty, a region as its provinces."""
    text, city, specialty, provinces = search.text, search.city, search.specialty, search.provinces
    if city and _province_of(city) is None and (region := interpret.region_provinces(city)):
        city, provinces = "", region
    if not provinces:
        text, provinces = interpret.take_region(text)
    if not specialty:
        nouns = _nouns(tuple(code for code, _name in specialty_choices()))
        words = normalise(text).split()
        noun = next((word for word in words if word in nouns), None)
        if noun is not None:
            specialty = nouns[noun]
            words.remove(noun)
            text = " ".join(words)
    if (text, city, specialty, provinces) == (search.text, search.city, search.specialty, search.provinces):
        return search
    return DoctorSearch(
        text=text, specialty=specialty, city=city, language=search.language, service=search.service,
        max_price=search.max_price, second_opinion=search.second_opinion, provinces=provinces,
    )  # fmt: skip


_nouns_memo: dict = {}


def _nouns(codes: tuple[str, ...]) -> dict[str, str]:
    if codes not in _nouns_memo:
        _nouns_memo.clear()
        _nouns_memo[codes] = interpret.profession_nouns(codes)
    return _nouns_memo[codes]


def _capped_count(queryset: QuerySet) -> int:
    """How many match, counted up to SORT_LIMIT + 1 at most."""
    return queryset.order_by()[: SORT_LIMIT + 1].count()


def _ordered(queryset: QuerySet, count: int) -> QuerySet:
    """The stable order: up to SORT_LIMIT matches are sorted, more are read along the order index."""
    return queryset.order_by(*(SORTED_ORDER if count <= SORT_LIMIT and _postgres() else STABLE_ORDER))


def _rows(plan: _Plan, count: int, shown: int, start: int) -> list[DirectoryEntry]:
    """The page's rows: from the first tier, then from the rest.

    The first tier is ranked when it holds at most MAX_RESULTS doctors; a larger one (a very
    common surname typed with a typo) keeps the stable order, so that no page ever ranks more.
    """

    def page_of(queryset: QuerySet, offset: int, size: int) -> list[DirectoryEntry]:
        return list(queryset.defer(*UNUSED_ON_RESULTS)[offset : offset + size])

    size = min(PAGE_SIZE, shown - start)  # the last page stops at MAX_RESULTS
    rows: list[DirectoryEntry] = []
    rest_start = start
    if plan.first is not None:
        first_count = _capped_count(plan.first)
        if start < first_count:
            ranked = plan.first_ranked if first_count <= MAX_RESULTS else None
            rows = page_of(ranked if ranked is not None else _ordered(plan.first, first_count), start, size)
        rest_start = max(0, start - first_count)
    if len(rows) < size:
        rest = plan.rest if plan.rest_ordered else _ordered(plan.rest, count)
        rows += page_of(rest, rest_start, size - len(rows))
    return rows


def _without_deactivated(rows: list[DirectoryEntry]) -> list[DirectoryEntry]:
    """A doctor whose account was deactivated leaves the results at once, before the sweep removes
    the entry (checked on the page's rows only: joining every match to the accounts costs more)."""
    if not rows:
        return rows
    public = set(accounts.public_doctors().filter(pk__in=[row.doctor_id for row in rows]).values_list("pk", flat=True))
    return [row for row in rows if row.doctor_id in public]


def doctor_search(search: DoctorSearch, page: int = 1) -> SearchPage:
    """One page of the doctors matching ``search``, ranked; a page number out of range gives the nearest page.

    At most seven queries whatever the number of doctors: the entries' last refresh; on
    PostgreSQL with words, the typo corrections; the count (stopped after MAX_RESULTS); with
    words that name doctors, their count and their page; the page of the other matches; the live
    check of the page's accounts.

    A page is kept in the cache, keyed by the search as understood, the page number, the
    language and the moment of the entries' last refresh: any refresh (every sweep refreshes
    some entries) makes a new key, so a cached page is never staler than the entries themselves.
    The live check of the accounts runs on every answer, cached or not.
    """
    search = understood(search)
    key = _cache_key(search, page)
    found = cache.get(key)
    if found is None:
        found = _search_page(search, page)
        cache.set(key, found, RESULTS_CACHE_SECONDS)
    return _live_only(found)


def _cache_key(search: DoctorSearch, page: int) -> str:
    last_refresh = DirectoryEntry.objects.aggregate(last=Max("refreshed_at"))["last"]
    # The paging limits too: pages cut differently are different pages.
    asked = repr(
        (RESULTS_CACHE_VERSION, PAGE_SIZE, MAX_RESULTS, SORT_LIMIT, search, page, get_language(), last_refresh)
    )
    return "directory:search:" + hashlib.sha256(asked.encode()).hexdigest()


def _live_only(page: SearchPage) -> SearchPage:
    kept = {row.doctor_id for row in _without_deactivated([result.entry for result in page.results])}
    if len(kept) == len(page.results):
        return page
    return replace(page, results=[result for result in page.results if result.entry.doctor_id in kept])


def _search_page(search: DoctorSearch, page: int) -> SearchPage:
    plan = _plan(search)
    matches = _capped_count(plan.matching)
    corrected = ""
    if not matches and not _postgres() and (words := search.words):
        # Nothing found: perhaps a typo. Only this empty result pays for looking.
        alternatives = _sqlite_corrections(words)
        if alternatives is not None:
            nearest = [group[1] if len(group) > 1 else group[0] for group in alternatives]
            plan = _sqlite_plan(_filtered(search), nearest, alternatives)
            matches = _capped_count(plan.matching)
            corrected = " ".join(nearest) if matches else ""
    capped = matches > MAX_RESULTS
    count = min(matches, MAX_RESULTS)
    num_pages = max(1, -(-count // PAGE_SIZE))
    number = min(max(page, 1), num_pages)
    rows = _rows(plan, matches, count, (number - 1) * PAGE_SIZE) if count else []
    names = dict(specialty_choices())
    price_field = PRICE_FIELDS[search.service] if search.service else "price_from"
    # Profile addresses are built once, not reversed for every row (slugs are URL-safe by construction).
    base = reverse("directory:search")
    results = [
        SearchResult(
            entry=row,
            url=f"{base}{quote(row.slug)}/",
            name=titled_name(row.title, row.display_name),
            initials=initials(row.display_name),
            specialties=" · ".join(names.get(code, code) for code in row.specialty_codes.split()),
            place=f"{row.city} ({row.province})" + (f" · {row.structure_name}" if row.structure_name else ""),
            verified=row.verified,
            second_opinion=row.second_opinion,
            price=getattr(row, price_field),
        )
        for row in rows
    ]
    return SearchPage(
        results=results, number=number, count=count, capped=capped, num_pages=num_pages, corrected=corrected
    )


# --- the profile --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceOffer:
    priced: pricing.PricedService
    key: str

    @property
    def tariff(self):
        return self.priced.tariff

    @property
    def breakdown(self):
        return self.priced.breakdown

    @property
    def label(self) -> str:
        return self.priced.label

    @property
    def is_consult(self) -> bool:
        return self.priced.kind in CONSULT_KINDS


def doctor_profile(slug: str) -> dict:
    """Everything the public profile shows, from the live data (404 for an unknown or inactive doctor)."""
    doctor = accounts.doctor_public_profile(slug)
    certifications = accounts.certification_summary(doctor)
    services = [
        ServiceOffer(priced=item, key=f"{item.kind}-{item.duration_minutes}" if item.duration_minutes else item.kind)
        for item in pricing.price_list(doctor)
    ]
    settings = billing.billing_settings_of(doctor)
    donation = None
    if settings is not None and settings.charity_id is not None and settings.donation_percent > 0:
        donation = {"percent": settings.donation_percent, "charity": settings.charity}
    return {
        "doctor": doctor,
        "initials": initials(doctor.user.get_full_name()),
        "certifications": certifications,
        "verified": all(item["status"] == "verified" for item in certifications),
        "services": services,
        "donation": donation,
        # Offered only when it can be booked: a window in the agenda and a priced visit of its length.
        "visits_bookable": visits.visits_bookable(doctor.user),
    }
