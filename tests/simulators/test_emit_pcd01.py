"""The simulator's PCD-01 writer and its ``mllp`` target, read back by an independent parser and the listener."""

from __future__ import annotations

from collections.abc import Sequence

import hl7
import pytest

from adapters.hl7.codes import CodeMap
from adapters.hl7.listener import MllpListener
from adapters.hl7.message import parse
from adapters.hl7.pcd01 import interpret
from monitor.binding import Bindings
from monitor.config import Hl7Binding, Hl7Settings
from monitor.model import IngestItem, SubmitResult, Vital
from simulators.emit.mllp_target import MllpTarget
from simulators.emit.pcd01 import encode_pcd01
from tests.adapters.hl7.hl7_helpers import RecordingSink

VITALS = {
    Vital.HR: 72.0,
    Vital.PR: 71.0,
    Vital.SPO2: 97.0,
    Vital.SBP: 128.0,
    Vital.DBP: 81.0,
    Vital.MAP: 96.7,
    Vital.RR: 14.0,
    Vital.ETCO2: 38.0,
}
TS = 1_764_000_000.25


def test_message_is_pcd01_for_python_hl7() -> None:
    raw = encode_pcd01(VITALS, TS, device="0A1B2CFFFE000007", location="chair-7")
    msg = hl7.parse(raw.decode("utf-8"))
    assert str(msg.segment("MSH")[9]) == "ORU^R01^ORU_R01" and str(msg.segment("MSH")[12]) == "2.6"
    assert str(msg.segment("PV1")[3]) == "chair-7"
    obx = msg.segments("OBX")
    assert len(obx) == 13  # MDS + 4 VMD headers + 8 numerics, as the benchmark wants
    numerics = {str(o[3][0][0]): str(o[5]) for o in obx if str(o[2]) == "NM"}
    assert numerics == {
        "147842": "72",
        "149530": "71",
        "150456": "97",
        "150021": "128",
        "150022": "81",
        "150023": "96.7",
        "151562": "14",
        "151708": "38",
    }
    assert {str(o[14]) for o in obx if str(o[2]) == "NM"} == {"20251124160000.250+0000"}
    assert {str(o[18][0][0]) for o in obx if str(o[2]) == "NM"} == {"0A1B2CFFFE000007"}
    other = encode_pcd01(VITALS, TS, device="0A1B2CFFFE000007", location="chair-7")
    assert str(hl7.parse(other.decode()).segment("MSH")[10]) != str(msg.segment("MSH")[10])


def test_round_trip_through_the_interpreter() -> None:
    raw = encode_pcd01({Vital.SPO2: 93.0, Vital.HR: 88.0}, TS, device="DEV1", location="chair-2")
    result = interpret(
        parse(raw.decode()),
        CodeMap.from_config(),
        Bindings.from_config([Hl7Binding(bed="chair-2", location="chair-2")]),
    )
    assert [(r.vital, r.value, r.ts, r.source, r.bed) for r in result.readings] == [
        (Vital.HR, 88.0, TS, "DEV1", "chair-2"),
        (Vital.SPO2, 93.0, TS, "DEV1", "chair-2"),
    ]
    assert result.errors == []


async def test_mllp_target_sends_over_persistent_connections() -> None:
    sink = RecordingSink()
    settings = Hl7Settings(host="127.0.0.1", port=0, bindings=[Hl7Binding(bed="chair-1", location="chair-1")])
    listener = MllpListener(settings)
    await listener.start(sink)
    try:
        target = MllpTarget.from_url(f"mllp://127.0.0.1:{listener.port}")
        await target.open()
        for second in range(3):
            await target.send(0, TS + second, "baseline", {Vital.HR: 70.0 + second, Vital.SPO2: 98.0})
            await target.send(1, TS + second, "baseline", {Vital.HR: 90.0})
        await target.close()
        assert dict(target.acks) == {"AA": 6} and target.problems == []
        assert listener.counters["connections"] == 2  # one per simulated monitor, kept open
        hr = [(r.bed, r.value) for r in sink.readings if r.vital == Vital.HR]
        assert hr == [("chair-1", 70.0), (None, 90.0), ("chair-1", 71.0), (None, 90.0), ("chair-1", 72.0), (None, 90.0)]
    finally:
        await listener.stop()


class BrokenSink:
    async def submit(self, items: Sequence[IngestItem], *, dedupe_key: str | None = None) -> SubmitResult:
        raise RuntimeError("database gone")


async def test_mllp_target_reports_non_aa() -> None:
    listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0))
    await listener.start(BrokenSink())
    try:
        target = MllpTarget.from_url(f"mllp://127.0.0.1:{listener.port}")
        await target.send(0, TS, "baseline", {Vital.HR: 70.0})
        await target.close()
        assert dict(target.acks) == {"AE": 1}
        assert target.problems and "could not be stored" in target.problems[0]
    finally:
        await listener.stop()


async def test_mllp_target_gives_up_on_a_message_never_answered() -> None:
    listener = MllpListener(Hl7Settings(host="127.0.0.1", port=0))
    await listener.start(RecordingSink())
    port = listener.port
    await listener.stop()  # nobody listens there any more: every connection is refused
    target = MllpTarget("127.0.0.1", port, retry_for_s=0.3)
    with pytest.raises(ConnectionError, match=r"patient 4: no ACK .* in 0\.3 s"):
        await target.send(4, TS, "baseline", {Vital.HR: 70.0})
    await target.close()
    assert target.unanswered == 1 and target.retries >= 2 and not target.all_accepted
    assert target.summary()["acks"] == {} and target.summary()["messages_sent"] == 1
