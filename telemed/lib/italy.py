"""Reference data about Italy that several apps need."""

import datetime
from functools import lru_cache

import holidays

# Sigle and names of the Italian provinces and metropolitan cities (the Ordini
# dei Medici are organised by province, and addresses carry the sigla).
PROVINCES: dict[str, str] = {
    "AG": "Agrigento",
    "AL": "Alessandria",
    "AN": "Ancona",
    "AO": "Aosta",
    "AP": "Ascoli Piceno",
    "AQ": "L'Aquila",
    "AR": "Arezzo",
    "AT": "Asti",
    "AV": "Avellino",
    "BA": "Bari",
    "BG": "Bergamo",
    "BI": "Biella",
    "BL": "Belluno",
    "BN": "Benevento",
    "BO": "Bologna",
    "BR": "Brindisi",
    "BS": "Brescia",
    "BT": "Barletta-Andria-Trani",
    "BZ": "Bolzano",
    "CA": "Cagliari",
    "CB": "Campobasso",
    "CE": "Caserta",
    "CH": "Chieti",
    "CL": "Caltanissetta",
    "CN": "Cuneo",
    "CO": "Como",
    "CR": "Cremona",
    "CS": "Cosenza",
    "CT": "Catania",
    "CZ": "Catanzaro",
    "EN": "Enna",
    "FC": "Forlì-Cesena",
    "FE": "Ferrara",
    "FG": "Foggia",
    "FI": "Firenze",
    "FM": "Fermo",
    "FR": "Frosinone",
    "GE": "Genova",
    "GO": "Gorizia",
    "GR": "Grosseto",
    "IM": "Imperia",
    "IS": "Isernia",
    "KR": "Crotone",
    "LC": "Lecco",
    "LE": "Lecce",
    "LI": "Livorno",
    "LO": "Lodi",
    "LT": "Latina",
    "LU": "Lucca",
    "MB": "Monza e della Brianza",
    "MC": "Macerata",
    "ME": "Messina",
    "MI": "Milano",
    "MN": "Mantova",
    "MO": "Modena",
    "MS": "Massa-Carrara",
    "MT": "Matera",
    "NA": "Napoli",
    "NO": "Novara",
    "NU": "Nuoro",
    "OR": "Oristano",
    "PA": "Palermo",
    "PC": "Piacenza",
    "PD": "Padova",
    "PE": "Pescara",
    "PG": "Perugia",
    "PI": "Pisa",
    "PN": "Pordenone",
    "PO": "Prato",
    "PR": "Parma",
    "PT": "Pistoia",
    "PU": "Pesaro e Urbino",
    "PV": "Pavia",
    "PZ": "Potenza",
    "RA": "Ravenna",
    "RC": "Reggio Calabria",
    "RE": "Reggio Emilia",
    "RG": "Ragusa",
    "RI": "Rieti",
    "RM": "Roma",
    "RN": "Rimini",
    "RO": "Rovigo",
    "SA": "Salerno",
    "SI": "Siena",
    "SO": "Sondrio",
    "SP": "La Spezia",
    "SR": "Siracusa",
    "SS": "Sassari",
    "SU": "Sud Sardegna",
    "SV": "Savona",
    "TA": "Taranto",
    "TE": "Teramo",
    "TN": "Trento",
    "TO": "Torino",
    "TP": "Trapani",
    "TR": "Terni",
    "TS": "Trieste",
    "TV": "Treviso",
    "UD": "Udine",
    "VA": "Varese",
    "VB": "Verbano-Cusio-Ossola",
    "VC": "Vercelli",
    "VE": "Venezia",
    "VI": "Vicenza",
    "VR": "Verona",
    "VT": "Viterbo",
    "VV": "Vibo Valentia",
}

PROVINCE_CHOICES = sorted(((code, f"{name} ({code})") for code, name in PROVINCES.items()), key=lambda c: c[1])


# --- national public holidays -------------------------------------------------------------------
# One calendar for every app: response deadlines count working days with it, and the visit
# agenda offers no slots on these days unless the doctor opens one. National holidays only: a
# patron saint's day is local.


@lru_cache(maxsize=64)
def _public_holidays(year: int, language: str) -> dict[datetime.date, str]:
    return dict(holidays.country_holidays("IT", years=year, language=language))


def public_holidays(year: int) -> frozenset[datetime.date]:
    return frozenset(_public_holidays(year, "it_IT"))


def is_public_holiday(day: datetime.date) -> bool:
    return day in _public_holidays(day.year, "it_IT")


def public_holiday_name(day: datetime.date, *, language: str = "it") -> str:
    """The holiday's name in ``language`` ("it" or "en"); empty when ``day`` is not one."""
    return _public_holidays(day.year, "it_IT" if language.startswith("it") else "en_US").get(day, "")


# --- regions ------------------------------------------------------------------------------------
# The twenty regions and the sigle of their provinces: a search for "Lombardia" means its provinces.
REGIONS: dict[str, tuple[str, ...]] = {
    "Abruzzo": ("AQ", "CH", "PE", "TE"),
    "Basilicata": ("MT", "PZ"),
    "Calabria": ("CS", "CZ", "KR", "RC", "VV"),
    "Campania": ("AV", "BN", "CE", "NA", "SA"),
    "Emilia-Romagna": ("BO", "FC", "FE", "MO", "PC", "PR", "RA", "RE", "RN"),
    "Friuli-Venezia Giulia": ("GO", "PN", "TS", "UD"),
    "Lazio": ("FR", "LT", "RI", "RM", "VT"),
    "Liguria": ("GE", "IM", "SP", "SV"),
    "Lombardia": ("BG", "BS", "CO", "CR", "LC", "LO", "MB", "MI", "MN", "PV", "SO", "VA"),
    "Marche": ("AN", "AP", "FM", "MC", "PU"),
    "Molise": ("CB", "IS"),
    "Piemonte": ("AL", "AT", "BI", "CN", "NO", "TO", "VB", "VC"),
    "Puglia": ("BA", "BR", "BT", "FG", "LE", "TA"),
    "Sardegna": ("CA", "NU", "OR", "SS", "SU"),
    "Sicilia": ("AG", "CL", "CT", "EN", "ME", "PA", "RG", "SR", "TP"),
    "Toscana": ("AR", "FI", "GR", "LI", "LU", "MS", "PI", "PO", "PT", "SI"),
    "Trentino-Alto Adige": ("BZ", "TN"),
    "Umbria": ("PG", "TR"),
    "Valle d'Aosta": ("AO",),
    "Veneto": ("BL", "PD", "RO", "TV", "VE", "VI", "VR"),
}
