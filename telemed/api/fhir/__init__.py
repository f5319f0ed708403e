"""HL7 FHIR R4 at ``/fhir/R4/``: read and search of what the platform holds, for hospital systems
and apps, on the same OAuth server and with the same access rules as the pages (DESIGN.md, API)."""
