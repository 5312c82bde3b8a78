"""FHIR R4 transaction Bundles of validated chart rows, built and validated with ``fhir.resources``.

Each charted row gives up to three Observations of the vital-signs profile: heart rate (8867-4),
oxygen saturation (2708-6 with 59408-5, pulse oximetry) and the blood-pressure panel (85354-9 with
components 8480-6, 8462-4 and the mean 8478-0), UCUM units, ``effectiveDateTime`` the measurement
time, ``performer`` the nurse who validated it, ``subject`` the patient by identifier. Every
Observation carries its own business identifier (``<system>|<session>-<row>-<code>``): the first
filing is a conditional create (``ifNoneExist``), so a resend creates nothing new; a correction is a
conditional update of the same identifier with status ``corrected``.

The models are FHIR R4B (4.3), which the package ships for R4 endpoints: every element used here
has the same shape in R4 (4.0.1).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from adapters.ehr.codes import (
    CATEGORY_SYSTEM,
    LOINC_BP_PANEL,
    LOINC_DIASTOLIC,
    LOINC_HEART_RATE,
    LOINC_MEAN,
    LOINC_SPO2,
    LOINC_SPO2_PULSE_OXIMETRY,
    LOINC_SYSTEM,
    LOINC_SYSTOLIC,
    UCUM_SYSTEM,
    UNITS,
)


@dataclass(frozen=True, slots=True)
class FhirIdentity:
    """Identifier systems (``[ehr.fhir]`` settings)."""

    #: The clinic's patient identifier system (the patient reference is its value).
    patient_system: str = "urn:ivmon:patient"
    #: The system of the Observations' business identifiers.
    observation_system: str = "urn:ivmon:chart"
    #: The system of the nurses' identifiers (their ivmon user names).
    user_system: str = "urn:ivmon:user"


def fhir_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _coding(code: tuple[str, str]) -> dict[str, str]:
    return {"system": LOINC_SYSTEM, "code": code[0], "display": code[1]}


def _quantity(vital: str, value: float) -> dict[str, Any]:
    ucum = UNITS[vital][0]
    return {"value": value, "unit": ucum, "system": UCUM_SYSTEM, "code": ucum}


def _observation(
    payload: Mapping[str, Any], identity: FhirIdentity, code: tuple[str, str], effective: float
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "identifier": [
            {"system": identity.observation_system, "value": f"{payload['session']}-{payload['row']}-{code[0]}"}
        ],
        "status": "corrected" if payload.get("correction") else "final",
        "category": [
            {
                "coding": [{"system": CATEGORY_SYSTEM, "code": "vital-signs", "display": "Vital Signs"}],
                "text": "Vital Signs",
            }
        ],
        "subject": {"identifier": {"system": identity.patient_system, "value": str(payload["patient_ref"])}},
        "effectiveDateTime": fhir_time(effective),
        "issued": fhir_time(float(payload["decided_at"])),
        "performer": [
            {
                "identifier": {"system": identity.user_system, "value": str(payload["user"])},
                "display": str(payload["user"]),
            }
        ],
    }


def observations(payload: Mapping[str, Any], identity: FhirIdentity) -> list[dict[str, Any]]:
    """The Observations (as plain FHIR JSON) of one row version."""
    values: Mapping[str, Mapping[str, Any]] = payload["values"]
    out: list[dict[str, Any]] = []
    hr = values.get("hr")
    if hr is not None:
        obs = _observation(payload, identity, LOINC_HEART_RATE, float(hr["ts"]))
        obs["code"] = {"coding": [_coding(LOINC_HEART_RATE)], "text": "Heart rate"}
        obs["valueQuantity"] = _quantity("hr", float(hr["value"]))
        out.append(obs)
    spo2 = values.get("spo2")
    if spo2 is not None:
        obs = _observation(payload, identity, LOINC_SPO2, float(spo2["ts"]))
        obs["code"] = {
            "coding": [_coding(LOINC_SPO2), _coding(LOINC_SPO2_PULSE_OXIMETRY)],
            "text": "Oxygen saturation",
        }
        obs["valueQuantity"] = _quantity("spo2", float(spo2["value"]))
        out.append(obs)
    parts = [(v, c) for v, c in (("sbp", LOINC_SYSTOLIC), ("dbp", LOINC_DIASTOLIC), ("map", LOINC_MEAN)) if v in values]
    if parts:
        first = values[parts[0][0]]
        obs = _observation(payload, identity, LOINC_BP_PANEL, float(first["ts"]))
        obs["code"] = {"coding": [_coding(LOINC_BP_PANEL)], "text": "Blood pressure"}
        obs["component"] = [
            {"code": {"coding": [_coding(code)]}, "valueQuantity": _quantity(vital, float(values[vital]["value"]))}
            for vital, code in parts
        ]
        out.append(obs)
    return out


def _entry(obs: dict[str, Any], correction: bool) -> dict[str, Any]:
    ident = obs["identifier"][0]
    search = f"identifier={ident['system']}|{ident['value']}"
    if correction:
        request = {"method": "PUT", "url": f"Observation?{search}"}
    else:
        request = {"method": "POST", "url": "Observation", "ifNoneExist": search}
    return {"fullUrl": f"urn:uuid:{_uuid_for(ident['value'])}", "resource": obs, "request": request}


def _uuid_for(value: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, value))


def transaction(payloads: Iterable[Mapping[str, Any]], identity: FhirIdentity) -> Bundle:
    """One transaction Bundle for the given row versions, validated against the R4(B) models."""
    entries = [_entry(obs, bool(p.get("correction"))) for p in payloads for obs in observations(p, identity)]
    return Bundle.model_validate({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def bundle_json(bundle: Bundle) -> bytes:
    return bundle.model_dump_json(exclude_none=True).encode("utf-8")
