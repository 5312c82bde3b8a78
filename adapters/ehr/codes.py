"""Codes of the charted vitals: MDC for HL7 v2 (IEEE 11073-10101), LOINC for FHIR, UCUM units.

Sources: ../shared/research/hl7.md (MDC codes as monitors send them) and research/ehr.md (the FHIR
R4 vital-signs profile). ``hr`` is charted from the ECG heart rate or, without one, the oximeter's
pulse rate: HL7 names the source (MDC code), FHIR charts both as heart rate (8867-4).
"""

from __future__ import annotations

#: Stored vital -> (MDC code, MDC reference id) for OBX-3.
MDC: dict[str, tuple[str, str]] = {
    "hr": ("147842", "MDC_ECG_HEART_RATE"),
    "pr": ("149530", "MDC_PULS_OXIM_PULS_RATE"),
    "spo2": ("150456", "MDC_PULS_OXIM_SAT_O2"),
    "sbp": ("150021", "MDC_PRESS_BLD_NONINV_SYS"),
    "dbp": ("150022", "MDC_PRESS_BLD_NONINV_DIA"),
    "map": ("150023", "MDC_PRESS_BLD_NONINV_MEAN"),
}

#: Charted vital -> (UCUM code, MDC unit code, MDC unit reference id) for OBX-6 / valueQuantity.
UNITS: dict[str, tuple[str, str, str]] = {
    "hr": ("/min", "264864", "MDC_DIM_BEAT_PER_MIN"),
    "spo2": ("%", "262688", "MDC_DIM_PERCENT"),
    "sbp": ("mm[Hg]", "266016", "MDC_DIM_MMHG"),
    "dbp": ("mm[Hg]", "266016", "MDC_DIM_MMHG"),
    "map": ("mm[Hg]", "266016", "MDC_DIM_MMHG"),
}

UCUM_SYSTEM = "http://unitsofmeasure.org"
LOINC_SYSTEM = "http://loinc.org"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"

LOINC_HEART_RATE = ("8867-4", "Heart rate")
LOINC_SPO2 = ("2708-6", "Oxygen saturation in Arterial blood")
LOINC_SPO2_PULSE_OXIMETRY = ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")
LOINC_BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
LOINC_SYSTOLIC = ("8480-6", "Systolic blood pressure")
LOINC_DIASTOLIC = ("8462-4", "Diastolic blood pressure")
LOINC_MEAN = ("8478-0", "Mean blood pressure")
LOINC_VITALS_PANEL = ("85353-1", "Vital signs panel")
