"""The font of the visible signature: DejaVu Sans cut down to Latin, made once per process.

pyHanko embeds a subset of the appearance's font in every signature, and subsetting the full
DejaVu Sans (with its large GSUB/GPOS layout tables) costs about 150 ms per document; starting
from this small Latin cut it costs a few milliseconds.
"""

import functools
import os
import tempfile
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
REGULAR = DEJAVU / "DejaVuSans.ttf"
# Italian, the other Western European languages, typographic quotes and dashes, the euro sign.
LATIN = [*range(0x20, 0x7F), *range(0xA0, 0x180), 0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2026, 0x20AC]


def _latin_cut(source: Path) -> TTFont:
    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.drop_tables += ["FFTM", "GSUB", "GPOS", "GDEF", "kern"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=LATIN)
    font = TTFont(str(source))
    subsetter.subset(font)
    # pyHanko spaces glyphs as if the font had 1000 units per em (DejaVu has 2048): without this
    # the signature appearance's letters drift apart.
    scale_upem(font, 1000)
    return font


@functools.cache
def latin_font_file(source: Path = REGULAR) -> str:
    """Path of the Latin cut of ``source`` (a temporary file of this process)."""
    handle, path = tempfile.mkstemp(prefix="telemed-font-", suffix=".ttf")
    with os.fdopen(handle, "wb") as target:
        _latin_cut(source).save(target)
    return path
