"""An independent client: python-hl7's ``mllp_send`` sends the test messages (tests/fixtures/hl7) to the listener."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from adapters.hl7.listener import MllpListener
from tests.adapters.hl7.hl7_helpers import StoredSink
from tests.fixtures import FIXTURES

WHOLE_MESSAGES = [
    "ivmon_comen_style_vitals_v26.hl7",
    "ivmon_continua_style_bp_v26.hl7",
    "ivmon_ge_style_header_fragment.hl7",
    "ivmon_mindray_style_waveform_r01.hl7",
    "ivmon_mindray_style_alarm_r40.hl7",
    "ivmon_egateway_style_waveform_v231.hl7",
    "ivmon_pcd01_style_waveform_multi_obr.hl7",
]
CONTROL_IDS = ["202503010830150007", "ivmon-bp-1", "004097112233", "4711", "7", "EGW0001", "5550000001"]


async def test_mllp_send_gets_aa_for_every_message(tmp_path: Path, listener: MllpListener, sink: StoredSink) -> None:
    blob = tmp_path / "messages.hl7"
    blob.write_bytes(b"\n".join((FIXTURES / "hl7" / name).read_bytes() for name in WHOLE_MESSAGES))
    tool = Path(sys.executable).with_name("mllp_send")
    proc = await asyncio.create_subprocess_exec(
        str(tool),
        "--loose",
        "-f",
        str(blob),
        "-p",
        str(listener.port),
        "127.0.0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    text = out.decode("utf-8")
    acks = [line for line in text.replace("\r", "\n").splitlines() if line.startswith("MSA|")]
    # The Continua message is training data (MSH-11 T): refused by default, naming MSH-11.
    assert [a.split("|")[:3] for a in acks] == [
        ["MSA", "AR" if cid == "ivmon-bp-1" else "AA", cid] for cid in CONTROL_IDS
    ]
    assert "MSH-11" in next(a for a in acks if a.startswith("MSA|AR|"))
    # what was stored: Comen 6 readings, the Mindray lead-off alarm
    assert len(sink.readings) == 6
    assert listener.counters["ack_AA"] == 6
    assert listener.counters["refused_processing_id_T"] == 1
