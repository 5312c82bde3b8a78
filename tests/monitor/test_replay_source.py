"""Stored sessions read for the replay: valid readings only, per session and vital, in time then storage order."""

from __future__ import annotations

import numpy as np

from monitor.model import Phase, PhaseChange, Session
from monitor.store import database
from monitor.store.replay_source import physiological_alarms, stored_sessions, valid_readings
from monitor.store.sessions import insert_session
from monitor.store.transaction import BatchRows, write_rows

T0 = 1_800_000_000.25


def test_valid_readings_by_session_and_vital(db_url: str) -> None:
    engine = database.make_engine(db_url)
    database.upgrade(engine)
    try:
        ids = []
        for k, bed in enumerate(("chair-1", "chair-2")):
            phases = [PhaseChange(Phase.BASELINE, T0 + k, "n")]
            session = Session(0, bed, f"P{k}", Phase.BASELINE, T0 + k, phases=phases, protocol=("iv-a", None)[k])
            ids.append(insert_session(engine, session, "n"))
        a, b = ids
        rows = [  # ts, vital, value, quality, session: stored in this order
            (T0 + 2.5, "spo2", 97.0, "valid", a),
            (T0 + 1.0, "hr", 71.0, "valid", a),
            (T0 + 2.5, "hr", 72.0, "valid", a),
            (T0 + 2.5, "hr", 73.0, "valid", a),  # a second hr at the same instant: both kept, in storage order
            (T0 + 3.0, "hr", 300.0, "invalid", a),  # never judged: not read
            (T0 + 3.0, "temp", 36.6, "valid", a),  # not a vital ivmon knows: not read
            (T0 + 0.5, "sbp", 120.0, "valid", b),
            (T0 + 9.0, "hr", 80.0, "valid", None),  # no session
        ]
        batch = BatchRows("k1", T0, readings=[(t, v, x, "u", q, "dev", "chair-1", s) for t, v, x, q, s in rows])
        write_rows(engine, batch)
        got = valid_readings(engine, [b, a])
        assert got.session_ids.tolist() == sorted(ids)
        series_a = got.series_of(a)
        assert set(series_a) == {"hr", "spo2"}
        assert series_a["hr"][0].tolist() == [T0 + 1.0, T0 + 2.5, T0 + 2.5]
        assert series_a["hr"][1].tolist() == [71.0, 72.0, 73.0]
        assert series_a["spo2"][0].tolist() == [T0 + 2.5] and series_a["spo2"][1].tolist() == [97.0]
        assert {k: (t.tolist(), v.tolist()) for k, (t, v) in got.series_of(b).items()} == {"sbp": ([T0 + 0.5], [120.0])}
        assert got.series_of(999) == {} and got.ts.dtype == np.float64
        assert [s.id for s in stored_sessions(engine)] == ids
        assert [s.id for s in stored_sessions(engine, bed="chair-2")] == [b]
        assert stored_sessions(engine, start=T0 + 0.5) == [s for s in stored_sessions(engine) if s.id == b]
        assert [s.id for s in stored_sessions(engine, protocol="iv-a")] == [a]
        assert stored_sessions(engine, protocol="other", end=T0 + 5) == []
        assert physiological_alarms(engine, ids) == []
    finally:
        engine.dispose()
