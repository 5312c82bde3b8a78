"""Protocol templates: the shipped ones load, a broken one is refused naming the file and the field,
a clinic's folder replaces or adds templates, and the dose arithmetic shows its working."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.protocols import ProtocolError, load_protocols, parse_protocol, shipped_protocols
from monitor.protocols.dose import DoseError, plan_dose, session_arithmetic

SHIPPED = Path(__file__).resolve().parents[2] / "monitor" / "protocols" / "templates"


def _template(name: str = "iv-ketamine-depression") -> str:
    return (SHIPPED / f"{name}.toml").read_text(encoding="utf-8")


def test_the_four_shipped_templates_load_with_their_sources_and_what_a_clinic_must_confirm() -> None:
    protocols = shipped_protocols()
    assert sorted(protocols) == ["im-ketamine", "in-esketamine", "iv-ketamine-depression", "iv-ketamine-pain"]
    for protocol in protocols.values():
        assert protocol.sources, protocol.id
        assert protocol.unconfirmed, protocol.id  # every template says which defaults are the clinic's to confirm
    depression = protocols["iv-ketamine-depression"]
    assert (depression.dose.default_mg_per_kg, depression.dose.min_mg_per_kg, depression.dose.max_mg_per_kg) == (
        0.5,
        0.1,
        1.0,
    )
    infusion, recovery = depression.phase("infusion"), depression.phase("recovery")
    assert infusion is not None and recovery is not None
    assert (infusion.planned_min, infusion.nibp_every_min, recovery.nibp_every_min) == (40, 10, 15)
    assert depression.discharge.min_recovery_min == 30
    esketamine = protocols["in-esketamine"]
    assert esketamine.records == ["record", "rems"] and esketamine.continuous_spo2
    assert esketamine.discharge.min_recovery_min >= 120
    labels = [c.label for c in esketamine.checkpoints if c.kind == "bp"]
    assert labels == ["BP before dosing", "BP due at 40 min", "BP before the end"]
    assert {r["id"] for r in esketamine.alarm_rules} == {"predose-sbp-review", "predose-dbp-review"}
    pain = protocols["iv-ketamine-pain"]
    assert pain.phase("infusion").planned_min >= 120 and pain.phase("infusion").nibp_every_min == 15  # type: ignore[union-attr]
    assert protocols["im-ketamine"].dose.bolus


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("planned_min = 40", 'planned_min = "forty"'), "phases.2.planned_min"),
        (("default_mg_per_kg = 0.5", "default_mg_per_kg = 1.5"), "dose"),
        (('anchor = "infusion_start"\nat_min = 40', 'anchor = "lunch"\nat_min = 40'), "checkpoints.2.anchor"),
        (("nibp_every_min = 10", "nibp_every_min = 10\nnibp_evry_min = 5"), "phases.2.nibp_evry_min"),
        (('scale = "moaas"', 'scale = "mood"'), "checkpoints.3.scale"),
        (('route = "iv"', 'route = "oral"'), "route"),
    ],
)
def test_a_broken_template_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    old, new = change
    text = _template()
    assert old in text
    path = tmp_path / "iv-ketamine-depression.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ProtocolError) as caught:
        load_protocols(load_settings(protocols={"folder": tmp_path}))
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert field in message, message


def test_a_template_that_is_not_toml_or_misnamed_or_lacks_a_field_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"x\.toml: not valid TOML"):
        parse_protocol("id = [", "x.toml")
    with pytest.raises(ProtocolError, match=r"x\.toml: .*sources: Field required"):
        parse_protocol(_template().replace("sources = [", "sourcez = ["), "x.toml")
    (tmp_path / "other-name.toml").write_text(_template(), encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"other-name\.toml: id: 'iv-ketamine-depression' must match"):
        load_protocols(load_settings(protocols={"folder": tmp_path}))
    with pytest.raises(ProtocolError, match="not a directory"):
        load_protocols(load_settings(protocols={"folder": tmp_path / "missing"}))


def test_a_clinic_folder_replaces_a_shipped_template_and_adds_its_own(tmp_path: Path) -> None:
    (tmp_path / "iv-ketamine-depression.toml").write_text(
        _template().replace("planned_min = 40", "planned_min = 60"), encoding="utf-8"
    )
    (tmp_path / "iv-ketamine-slow.toml").write_text(
        _template().replace('id = "iv-ketamine-depression"', 'id = "iv-ketamine-slow"'), encoding="utf-8"
    )
    protocols = load_protocols(load_settings(protocols={"folder": tmp_path}))
    assert protocols["iv-ketamine-depression"].phase("infusion").planned_min == 60  # type: ignore[union-attr]
    assert "iv-ketamine-slow" in protocols and "in-esketamine" in protocols


def test_dose_arithmetic_per_kg_fixed_and_bolus() -> None:
    protocols = shipped_protocols()
    depression = protocols["iv-ketamine-depression"]
    plan = plan_dose(depression, weight_kg=70)
    assert (plan.dose_mg, plan.rate_mg_per_h, plan.dose_mg_per_kg) == (35.0, 52.5, 0.5)
    assert plan.arithmetic == "0.5 mg/kg x 70 kg = 35 mg over 40 min = 52.5 mg/h"
    slower = plan_dose(depression, weight_kg=82.5, dose_mg_per_kg=0.75, infusion_min=60)
    assert (slower.dose_mg, slower.rate_mg_per_h) == (61.88, 61.88)
    assert slower.arithmetic == "0.75 mg/kg x 82.5 kg = 61.88 mg over 60 min = 61.88 mg/h"
    no_weight = plan_dose(depression, weight_kg=None, dose_mg_per_kg=0.4)
    assert (no_weight.dose_mg, no_weight.rate_mg_per_h, no_weight.arithmetic) == (None, None, "")
    with pytest.raises(DoseError, match=r"1\.2 mg/kg is outside the protocol.s 0\.1-1 mg/kg"):
        plan_dose(depression, weight_kg=70, dose_mg_per_kg=1.2)
    with pytest.raises(DoseError, match="outside"):
        plan_dose(depression, weight_kg=70, dose_mg_per_kg=0.05)
    esketamine = protocols["in-esketamine"]
    assert plan_dose(esketamine, weight_kg=70, dose_mg=84).arithmetic == "84 mg intranasal (fixed dose)"
    with pytest.raises(DoseError, match="not one of 56 or 84 mg"):
        plan_dose(esketamine, weight_kg=70, dose_mg=70)
    with pytest.raises(DoseError, match="fixed dose"):
        plan_dose(esketamine, weight_kg=70, dose_mg_per_kg=0.5)
    im = plan_dose(protocols["im-ketamine"], weight_kg=80)
    assert (im.dose_mg, im.rate_mg_per_h, im.arithmetic) == (40.0, None, "0.5 mg/kg x 80 kg = 40 mg IM")
    assert session_arithmetic(depression, 70, 0.5, 35, 52.5) == plan.arithmetic
