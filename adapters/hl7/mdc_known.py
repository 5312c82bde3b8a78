"""IEEE 11073-10101 (MDC) codes of quantities ivmon knows but does not track.

Numbers are partition * 65536 + term code, as the HL7 FHIR ``DeviceMetricType``
value set lists them (the public extract of the nomenclature; source and the
codes checked against it: ``docs/hl7-codes.md``, key FHIR-MDC). They are listed
so that the integrator's view can name them instead of flagging them as
unknown, and so that a row whose *name* says cuff pressure but whose *number*
is an invasive pressure is refused (:mod:`adapters.hl7.codes`).

Every invasive pressure family is here whole (systolic, diastolic, mean and the
unqualified term): an arterial line, a central line or a pulmonary catheter is
never the cuff pressure the NIBP-overdue alarm watches.
"""

from __future__ import annotations

#: Invasive pressure families: (first code = the unqualified term, what it is).
#: The family's systolic/diastolic/mean follow at +1/+2/+3.
_INVASIVE_FAMILIES: tuple[tuple[int, str], ...] = (
    (150016, "blood pressure of unstated method (MDC_PRESS_BLD): not a cuff pressure"),
    (150028, "invasive aortic pressure (MDC_PRESS_BLD_AORT)"),
    (150032, "invasive arterial pressure (MDC_PRESS_BLD_ART)"),
    (150036, "invasive arterial pressure (MDC_PRESS_BLD_ART_ABP)"),
    (150044, "pulmonary artery pressure (MDC_PRESS_BLD_ART_PULM)"),
    (150056, "umbilical arterial pressure (MDC_PRESS_BLD_ART_UMB)"),
    (150064, "left atrial pressure (MDC_PRESS_BLD_ATR_LEFT)"),
    (150068, "right atrial pressure (MDC_PRESS_BLD_ATR_RIGHT)"),
    (150076, "pulmonary capillary pressure (MDC_PRESS_BLD_PULM_CAP)"),
    (150084, "central venous pressure (MDC_PRESS_BLD_VEN_CENT)"),
    (150088, "umbilical venous pressure (MDC_PRESS_BLD_VEN_UMB)"),
    (150100, "left ventricular pressure (MDC_PRESS_BLD_VENT_LEFT)"),
    (150104, "right ventricular pressure (MDC_PRESS_BLD_VENT_RIGHT)"),
    (150112, "coronary artery pressure (MDC_PRESS_BLD_CORON_ART)"),
    (150648, "femoral arterial pressure (MDC_PRESS_BLD_ART_FEMORAL)"),
    (150676, "femoral venous pressure (MDC_PRESS_BLD_VEN_FEMORAL)"),
    (150680, "brachial arterial pressure (MDC_PRESS_BLD_ART_BRACHIAL)"),
)
_PARTS = ("", ", systolic", ", diastolic", ", mean")

#: Single invasive terms outside the families above.
_INVASIVE_SINGLE: dict[int, str] = {
    150040: "arterial pressure, augmentation (MDC_PRESS_BLD_ART_AUG)",
    150042: "arterial pressure, augmented diastolic (MDC_PRESS_BLD_ART_AUG_DIA)",
    150052: "pulmonary artery wedge pressure (MDC_PRESS_BLD_ART_PULM_WEDGE)",
    150060: "atrial pressure (MDC_PRESS_BLD_ATR)",
    150080: "venous pressure (MDC_PRESS_BLD_VEN)",
    150092: "ventricular pressure (MDC_PRESS_BLD_VENT)",
}

#: Numbers of every invasive (or method-less) blood pressure: never sbp/dbp/map.
INVASIVE_MDC: frozenset[int] = frozenset(
    {first + i for first, _ in _INVASIVE_FAMILIES for i in range(4)} | set(_INVASIVE_SINGLE)
)

_OTHERS: dict[int, str] = {
    # The continuous non-invasive pressure (a finger cuff) is not the intermittent cuff of sbp/dbp/map.
    150024: "continuous non-invasive blood pressure (MDC_PRESS_BLD_NONINV_CTS), not the intermittent cuff",
    150025: "continuous non-invasive blood pressure, systolic (MDC_PRESS_BLD_NONINV_SYS_CTS)",
    150026: "continuous non-invasive blood pressure, diastolic (MDC_PRESS_BLD_NONINV_DIA_CTS)",
    150027: "continuous non-invasive blood pressure, mean (MDC_PRESS_BLD_NONINV_MEAN_CTS)",
    148065: "premature ventricular contractions (MDC_ECG_V_P_C_CNT)",
    148066: "premature ventricular contraction rate (MDC_ECG_V_P_C_RATE)",
    149554: "heart rate from thoracic impedance (MDC_TTHOR_HEART_RATE)",
    149562: "palpated heart rate, entered by hand (MDC_PALPATION_HEART_RATE)",
    150324: "arterial oxygen saturation from a blood sample (MDC_SAT_O2_ART), not SpO2",
    150332: "venous oxygen saturation (MDC_SAT_O2_VEN)",
    150448: "perfusion index (MDC_PULS_OXIM_PERF_REL)",
    150468: "difference between two SpO2 sensors (MDC_PULS_OXIM_SAT_O2_DIFF), not a saturation",
    150488: "perfusion index (MDC_BLD_PERF_INDEX)",
    150344: "temperature (MDC_TEMP)",
    150348: "bladder temperature (MDC_TEMP_FOLEY)",
    150352: "arterial temperature (MDC_TEMP_ART)",
    150356: "airway temperature (MDC_TEMP_AWAY)",
    150364: "body temperature (MDC_TEMP_BODY)",
    150368: "core temperature (MDC_TEMP_CORE)",
    150372: "oesophageal temperature (MDC_TEMP_ESOPH)",
    150380: "nasopharyngeal temperature (MDC_TEMP_NASOPH)",
    150388: "skin temperature (MDC_TEMP_SKIN)",
    150392: "tympanic temperature (MDC_TEMP_TYMP)",
    188496: "axillary temperature (MDC_TEMP_AXIL)",
    151586: "ventilator respiration rate (MDC_VENT_RESP_RATE)",
    151666: "spontaneous respiration rate on a ventilator (MDC_RESP_SPONT_RATE)",
    151716: "inspired CO2 (MDC_CONC_AWAY_CO2_INSP)",
    151736: "inspired CO2 (MDC_AWAY_CO2_INSP)",
}

#: MDC numbers of quantities ivmon does not track -> what they are.
MDC_KNOWN: dict[int, str] = {
    **{first + i: f"{what}{_PARTS[i]}" for first, what in _INVASIVE_FAMILIES for i in range(4)},
    **_INVASIVE_SINGLE,
    **_OTHERS,
}
