"""Optional conformance suite: third-party FHIR, HL7 v2, CDS Hooks and Bulk Data examples, run when present."""
