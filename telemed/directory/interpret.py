"""What a visitor means by the words they type, before the search reads the index.

Rules, in order:

* A professional noun names a specialty: "cardiologo", "cardiologa", "cardiologi",
  "cardiologist" mean Cardiologia; "pediatra" Pediatria; a few irregular nouns ("oculista",
  "ortopedico", "chirurgo"…) are listed. The word becomes the specialty filter (an indexed
  lookup) unless the visitor already chose a specialty, then it stays a plain word.
* A region names its provinces: "Lombardia" in the text or as the place means every province
  of Lombardy (``telemed.lib.italy.REGIONS``), read with the (province, order) index.
* Small typos: on PostgreSQL the search itself corrects words with trigram similarity; on
  SQLite a search that finds nothing is tried again with each word replaced by the known
  words (``DirectoryWord``) within a small edit distance — 1 for words up to 5 letters, 2 for
  longer — that start with the same letter and differ in length by at most 2. Only the empty
  result pays for it, and the candidates are read along the word's unique index.
"""

from functools import lru_cache

from telemed.directory.indexing import normalise
from telemed.lib.italy import REGIONS

# Irregular nouns; the regular ones are derived from the specialty codes (see ``profession_nouns``).
IRREGULAR_NOUNS = {
    "oculista": "oftalmologia",
    "ortopedico": "ortopedia",
    "ortopedica": "ortopedia",
    "chirurgo": "chirurgia-generale",
    "chirurga": "chirurgia-generale",
    "cardiochirurgo": "cardiochirurgia",
    "neurochirurgo": "neurochirurgia",
    "anestesista": "anestesia",
    "internista": "medicina-interna",
    "nutrizionista": "scienza-alimentazione",
    "fisiatra": "medicina-fisica",
    "infettivologo": "malattie-infettive",
    "infettivologa": "malattie-infettive",
    "neuropsichiatra": "neuropsichiatria-infantile",
    "radioterapista": "radioterapia",
    "pneumologo": "pneumologia",
    "pneumologa": "pneumologia",
}
# Other names of regions, as people type them.
REGION_ALIASES = {"emilia": "Emilia-Romagna", "friuli": "Friuli-Venezia Giulia", "trentino": "Trentino-Alto Adige",
                  "alto adige": "Trentino-Alto Adige", "sud tirolo": "Trentino-Alto Adige", "val d aosta": "Valle d'Aosta"}  # fmt: skip
MAX_CANDIDATES = 5000


def profession_nouns(codes) -> dict[str, str]:
    """Normalised noun -> specialty code, for the given specialty codes."""
    nouns = {}
    for code in codes:
        head = code.split("-")[0]
        if head.endswith("logia"):
            stem = head[: -len("ia")]  # cardiolog
            nouns.update({stem + "o": code, stem + "a": code, stem + "i": code, stem + "he": code, stem + "ist": code})
        elif head.endswith("iatria"):
            stem = head[: -len("ia")]  # pediatr
            nouns.update({stem + "a": code, stem + "i": code})
    nouns.update({noun: code for noun, code in IRREGULAR_NOUNS.items() if code in set(codes)})
    return nouns


@lru_cache(maxsize=1)
def _regions() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(normalised name, provinces), the longest names first so that "alto adige" wins over a shorter name."""
    names = {normalise(name): provinces for name, provinces in REGIONS.items()}
    names.update({normalise(alias): REGIONS[name] for alias, name in REGION_ALIASES.items()})
    return tuple(sorted(names.items(), key=lambda item: -len(item[0])))


def region_provinces(place: str) -> tuple[str, ...]:
    """The provinces of the region ``place`` names as a whole, or ()."""
    key = normalise(place)
    return next((provinces for name, provinces in _regions() if name == key), ())


def take_region(text: str) -> tuple[str, tuple[str, ...]]:
    """The text without the region it names, and that region's provinces (the first region only)."""
    padded = f" {normalise(text)} "
    for name, provinces in _regions():
        if f" {name} " in padded:
            return " ".join(padded.replace(f" {name} ", " ", 1).split()), provinces
    return text, ()


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, or ``limit + 1`` as soon as it is sure to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def typo_limit(word: str) -> int:
    return 1 if len(word) <= 5 else 2


def close_words(word: str, candidates) -> list[str]:
    """The candidates within the word's typo limit, nearest first (at most three)."""
    limit = typo_limit(word)
    scored = sorted((edit_distance(word, other, limit), other) for other in candidates if other != word)
    return [other for distance, other in scored if distance <= limit][:3]
