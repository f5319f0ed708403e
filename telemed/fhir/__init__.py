"""HL7 FHIR R4 as the platform's records read: which rows each resource type is for a person (the
apps' own selectors), how one row reads as the resource, the search parameters, and a patient's
record as one Bundle. No HTTP here: the endpoint (``telemed.api.fhir``) serves these, the data
export (``telemed.rights``) writes the patient's Bundle into its ZIP."""
