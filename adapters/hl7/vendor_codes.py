"""Vendor code tables: what each monitor family sends in OBX-3, and what ivmon makes of it.

Facts with their sources and what is unconfirmed: ``docs/hl7-codes.md``. Two
kinds of entry:

* **vitals**: codes that carry one of ivmon's vitals (``hr``, ``pr``,
  ``spo2``, ``sbp``/``dbp``/``map`` for the *cuff*, ``rr``, ``etco2``);
* **known, not tracked**: codes of quantities ivmon deliberately ignores
  (invasive pressures, temperatures, ST, QT, PVC ...; the MDC ones are in
  :mod:`adapters.hl7.mdc_known`, label-coded vendors in
  :mod:`adapters.hl7.label_codes`). They are listed so that
  the integrator's view (``ivmon hl7 codes``) can say what they are instead of
  flagging them as unknown codes that might be vitals.

Invasive pressures are never NIBP: the spec's ``sbp``/``dbp``/``map`` are cuff
pressures (intermittent, with the NIBP-overdue alarm); an arterial line read as
cuff pressure would hide an overdue cuff and mix two methods in one trend.

Philips MDIL codes are written ``pppp-cccc`` (partition, hex term code). Codes
of the standard range equal the IEEE 11073 number (partition * 65536 + term
code) and are read through the MDC table; the entries below are the ones that
do not (Philips' private ``0xF000`` range and Philips-specific terms).
"""

from __future__ import annotations

from monitor.model import Vital

#: Philips MDIL codes (lower case) -> vital, where the MDC table cannot say it.
MDIL_VITALS: dict[str, Vital] = {
    "0002-4822": Vital.PR,  # "Pulse (SpO2)": pulse from the pleth (NOM_PLETH_PULS_RATE); IIC capture
    "0002-f09d": Vital.PR,  # pulse from the telemetry SpO2 (NOM_PULS_OXIM_PULS_RATE_TELE); label unconfirmed
    "0002-f0e5": Vital.PR,  # "Pulse (NBP)": pulse from the cuff (NOM_PRESS_BLD_NONINV_PULS_RATE); IIC capture
    "0002-f09c": Vital.SPO2,  # "SpO2T": telemetry SpO2 (NOM_PULS_OXIM_SAT_O2_TELE); IIC capture
    "0002-4bc8": Vital.SPO2,  # second sensor, left (NOM_PULS_OXIM_SAT_O2_ART_LEFT); label unconfirmed
    "0002-4bcc": Vital.SPO2,  # second sensor, right (NOM_PULS_OXIM_SAT_O2_ART_RIGHT); label unconfirmed
    "0002-f1c0": Vital.SPO2,  # "SpO2pr" pre-ductal (NOM_PULS_OXIM_SAT_O2_PRE_DUCTAL)
    "0002-f1d4": Vital.SPO2,  # "SpO2po" post-ductal (NOM_PULS_OXIM_SAT_O2_POST_DUCTAL); label unconfirmed
    "0002-f0a1": Vital.SBP,  # telemetry NBP (NOM_PRESS_BLD_NONINV_TELE_SYS); label unconfirmed
    "0002-f0a2": Vital.DBP,  # (NOM_PRESS_BLD_NONINV_TELE_DIA)
    "0002-f0a3": Vital.MAP,  # (NOM_PRESS_BLD_NONINV_TELE_MEAN)
    "0002-5000": Vital.RR,  # "Resp": ECG (impedance) respiration rate in rpm; Efficia CM guide p.3-17
}

#: Philips MDIL codes of quantities ivmon does not track -> what they are.
MDIL_KNOWN: dict[str, str] = {
    "0002-4a15": "invasive arterial pressure, systolic (ABPs)",
    "0002-4a16": "invasive arterial pressure, diastolic (ABPd)",
    "0002-4a17": "invasive arterial pressure, mean (ABPm)",
    "0002-4a11": "invasive arterial pressure, systolic (ARTs)",
    "0002-4a12": "invasive arterial pressure, diastolic (ARTd)",
    "0002-4a13": "invasive arterial pressure, mean (ARTm)",
    "0002-4a1d": "pulmonary artery pressure, systolic (PAPs)",
    "0002-4a1e": "pulmonary artery pressure, diastolic (PAPd)",
    "0002-4a1f": "pulmonary artery pressure, mean (PAPm)",
    "0002-4a24": "pulmonary artery wedge pressure (PAWP)",
    "0002-4a45": "central venous pressure, systolic",
    "0002-4a46": "central venous pressure, diastolic",
    "0002-4a47": "central venous pressure, mean (CVPm)",
    "0002-580b": "intracranial pressure, mean (ICPm)",
    "0002-5804": "cerebral perfusion pressure (CPP)",
    "0002-4bb0": "perfusion index (Perf)",
    "0002-4261": "premature ventricular contractions per minute (PVC)",
    "0002-3f20": "QT interval",
    "0002-3f24": "QTc interval",
    "0002-f154": "heart rate used for QTc (QT-HR), not the monitored HR",
    "0002-f156": "QTc change (dQTc)",
    "0002-f03d": "ST index (STindx)",
    "0002-f0c7": "temperature (T1)",
    "0002-4b48": "temperature",
    "0002-4b60": "core temperature (Tcore)",
    "0002-d006": "ectopic status (text)",
    "0002-d007": "rhythm status (text)",
    "0402-f8f5": "monitoring mode (setting)",
    "0002-f887": "model (configuration)",
}

#: Reference ids (OBX-3.2) of quantities ivmon does not track, for senders whose numbers are local.
REFID_KNOWN_PREFIXES: tuple[tuple[str, str], ...] = (
    ("MDC_PRESS_BLD_ART", "invasive arterial pressure"),
    ("MDC_PRESS_BLD_AORT", "invasive aortic pressure"),
    ("MDC_PRESS_BLD_ATR", "atrial pressure"),
    ("MDC_PRESS_BLD_VENT", "ventricular pressure"),
    ("MDC_PRESS_BLD_VEN", "venous pressure"),
    ("MDC_PRESS_BLD_SYS", "invasive blood pressure"),
    ("MDC_PRESS_BLD_DIA", "invasive blood pressure"),
    ("MDC_PRESS_BLD_MEAN", "invasive blood pressure"),
    ("MDC_TEMP", "temperature"),
    ("MDC_ECG_AMPL_ST", "ST level"),
    ("MDC_ECG_TIME_PD_QT", "QT interval"),
    ("MDC_ECG_V_P_C", "PVC"),
    ("MDC_DEV_", "device or channel header"),
    ("MDC_ATTR_", "attribute"),
)

#: OBX-3 texts that say the heart-rate code carries a pulse (a pulse rate paired with a sensor).
PULSE_LABEL_WORDS = ("PULS", "HR_PULSE")
PULSE_LABELS = frozenset({"PR", "PULSE", "PR_SPO2", "SPO2_PR", "PULSE RATE"})

#: OBX-18 sensor references (coding systems, not equipment ids) that make a pulse a ``pr``.
SENSOR_SYSTEMS = frozenset({"MDIL", "MDC"})


def mdil_key(code: str) -> str:
    """A Philips MDIL code as the tables key it (lower-case hex)."""
    return code.strip().lower()
