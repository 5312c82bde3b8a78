"""An independent client: python-hl7's ``mllp_send`` tool sends real messages to the running listener."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from adapters.hl7.listener import MllpListener
from tests.adapters.hl7.hl7_helpers import StoredSink

WHOLE_MESSAGES = [
    "comen_nc_monitor_vitals_v26_1.hl7",
    "continua_phd_bp_cdog_v26_1.hl7",
    "ge_b40_example1_header_fragment.hl7",
    "mindray_bedside_oru_r01_waveform_1.hl7",
    "mindray_bedside_oru_r40_alarm_1.hl7",
    "mindray_egateway_dummy_waveform_v231.hl7",
    "sllmdilab_dordriver_pcd01_waveform_multi_obr.hl7",
]
CONTROL_IDS = ["202506100151270003", "msgId0", "004097134535", "1227", "1", "MSGID1234", "9879790004"]


async def test_mllp_send_gets_aa_for_every_message(
    shared_data: Path, tmp_path: Path, listener: MllpListener, sink: StoredSink
) -> None:
    blob = tmp_path / "messages.hl7"
    blob.write_bytes(b"\n".join((shared_data / "hl7" / name).read_bytes() for name in WHOLE_MESSAGES))
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
    assert acks == [f"MSA|AA|{cid}" for cid in CONTROL_IDS]
    # what was stored: Comen 6 readings, Continua 3, the Mindray lead-off alarm
    assert len(sink.readings) == 9
    assert listener.counters["ack_AA"] == 7
