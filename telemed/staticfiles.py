"""Static files in production: WhiteNoise's compressed files with hashed names, and the hashed
names written into our ES modules' `import … from "…"` too, so a page's module never loads a
stale copy of another from a cache: a changed module gets a new name, and so does every module
that imports it.

Django's own switch for this (`support_js_module_import_aggregation`) also rewrites dynamic
`import("…")`, which matches the JSDoc types (`@type {import("../htmx")…}`) of django-htmx's
files and stops collectstatic; so only the static forms are rewritten here: `import … from`,
`export … from` and `import "…"`, with relative paths."""

from whitenoise.storage import CompressedManifestStaticFilesStorage

ES_MODULE_PATTERNS = (
    (
        r"""(?P<matched>import(?s:(?P<import>[\s\{].*?|\*\s*as\s*\w+))\s*from\s*['"](?P<url>[./].*?)["']\s*;)""",
        """import%(import)s from "%(url)s";""",
    ),
    (
        r"""(?P<matched>export(?s:(?P<exports>[\s\{].*?))\s*from\s*["'](?P<url>[./].*?)["']\s*;)""",
        """export%(exports)s from "%(url)s";""",
    ),
    (r"""(?P<matched>import\s*['"](?P<url>[./].*?)["']\s*;)""", """import"%(url)s";"""),
)


class HashedModulesStorage(CompressedManifestStaticFilesStorage):
    patterns = (*CompressedManifestStaticFilesStorage.patterns, ("*.js", ES_MODULE_PATTERNS))
