"""PostgreSQL only: the extensions, the Italian unaccented text-search configuration and the GIN indexes.

On SQLite every operation here does nothing: the search then matches normalised
text with LIKE (see ``selectors``). The indexes are not in the model's Meta because
Django would create them on SQLite too.
"""

from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations

CONFIG = "telemed_italian"
ENTRY = "directory_directoryentry"
WORD = "directory_directoryword"

FORWARD = [
    f"""
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = '{CONFIG}') THEN
        CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = pg_catalog.italian);
        ALTER TEXT SEARCH CONFIGURATION {CONFIG}
          ALTER MAPPING FOR hword, hword_part, word WITH unaccent, italian_stem;
      END IF;
    END $$;
    """,
    f"CREATE INDEX IF NOT EXISTS directory_entry_vector_gin ON {ENTRY} USING gin (search_vector)",
    f"CREATE INDEX IF NOT EXISTS directory_entry_facets_gin ON {ENTRY} USING gin (facets)",
    f"CREATE INDEX IF NOT EXISTS directory_word_trgm ON {WORD} USING gin (word gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS directory_word_trgm",
    "DROP INDEX IF EXISTS directory_entry_facets_gin",
    "DROP INDEX IF EXISTS directory_entry_vector_gin",
    f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("directory", "0001_initial")]

    operations = [
        # Both operations already do nothing on a database other than PostgreSQL.
        TrigramExtension(),
        UnaccentExtension(),
        migrations.RunPython(_run(FORWARD), _run(BACKWARD)),
    ]
