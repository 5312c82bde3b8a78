"""The EHR destinations: HL7 v2.5.1 ORU^R01 over MLLP and FHIR R4 transaction Bundles over HTTP."""
