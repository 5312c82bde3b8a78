"""The one binding module: fixed and on-screen associations, their start and end, strict binding."""

from __future__ import annotations

import pytest

from monitor.binding import BindingError, Bindings, Verdict
from monitor.config import Hl7Binding


def test_device_ids_match_whatever_their_case_and_blanks() -> None:
    b = Bindings.from_config([Hl7Binding(bed="chair-1", device=" mon-07 ")])
    assert b.judge("MON-07", None, 10.0) == ("chair-1", Verdict.ACCEPTED)
    assert b.resolve(["Mon-07"], []) == "chair-1"


def test_an_association_binds_from_its_start_and_a_move_ends_the_old_one() -> None:
    b = Bindings()
    assoc, ended = b.associate("MR-1", "chair-1", 100.0, "nurse")
    assert ended == []
    assert b.judge("MR-1", None, 99.0) == (None, Verdict.ACCEPTED)  # backlog before the start: not the chair's
    assert b.judge("MR-1", None, 100.0) == ("chair-1", Verdict.ACCEPTED)
    moved, ended = b.associate("mr-1", "chair-2", 200.0, "nurse")
    assert moved.bed == "chair-2" and ended == [assoc] and assoc.end == 200.0 and assoc.ended_by == "nurse"
    assert b.judge("MR-1", "chair-1", 201.0) == ("chair-2", Verdict.ACCEPTED)  # its association wins over a claim
    assert b.last_on_bed == {"chair-1": "MR-1", "chair-2": "mr-1"}
    assert [a.device for a in b.on_bed("chair-1")] == []


def test_a_bound_chair_quarantines_other_devices_and_a_location_bound_chair_does_not() -> None:
    b = Bindings.from_config(
        [
            Hl7Binding(bed="chair-1", device="MON-07"),
            Hl7Binding(bed="chair-1", location="KETA^^1"),
            Hl7Binding(bed="chair-2", location="KETA^^2"),
        ]
    )
    assert b.judge("EVIL", "chair-1", 1.0) == ("chair-1", Verdict.QUARANTINED)
    assert b.judge("ANY", "chair-2", 1.0) == ("chair-2", Verdict.ACCEPTED)
    b.associate("MR-6", "chair-2", 0.0, "nurse")
    assert b.judge("ANY", "chair-2", 1.0) == ("chair-2", Verdict.QUARANTINED)
    assert b.judge("ANY", None, 1.0) == (None, Verdict.ACCEPTED)  # claiming nothing: unassigned


def test_a_session_end_releases_on_screen_associations_but_not_fixed_ones() -> None:
    b = Bindings({"FIX-3": "chair-3"})
    b.associate("MR-1", "chair-3", 0.0, "nurse")
    ended = b.end_for_bed("chair-3", 50.0, "nurse")
    assert [a.device for a in ended] == ["MR-1"]
    assert b.fixed_on("chair-3") and b.judge("FIX-3", None, 60.0) == ("chair-3", Verdict.ACCEPTED)
    with pytest.raises(BindingError):
        b.associate("fix-3", "chair-1", 70.0, "nurse")
    current = b.current("FIX-3")
    assert current is not None
    with pytest.raises(BindingError):
        b.end(current, 70.0, "nurse")


def test_devices_behind_a_bound_gateway_count_as_bound_with_it() -> None:
    b = Bindings.from_config([Hl7Binding(bed="chair-3", device="GATEWAY-1")])
    assert b.resolve(["MON-A"], [], ["GATEWAY-1"]) == "chair-3"
    assert b.judge("MON-A", "chair-3", 1.0) == ("chair-3", Verdict.ACCEPTED)
    assert b.judge("MON-B", "chair-3", 1.0) == ("chair-3", Verdict.QUARANTINED)
