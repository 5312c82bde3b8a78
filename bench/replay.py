"""Offline replay vs live engine on the same readings, with the clinic's default rules.

Tiles the real recorded traces (MIMIC-II numerics, PhysioNet Challenge 2012; see
tests/fixtures/SOURCES.md) end to end until there are at least 10 million
readings (a synthetic noisy trace stands in when they are absent, and
the output says so). Prints readings/s offline, the live engine's rate on a
slice of the same readings (extrapolated per reading), their ratio and the
live cost in microseconds per reading. Goals: >= 20 M readings/s offline,
>= 50x live, live < 20 us/reading.

    python bench/replay.py [--readings 10000000] [--live 200000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.engine import AlarmEngine
from alerts.feed import readings_of
from alerts.replay import replay_table
from alerts.rules import default_rules
from alerts.trace import load_trace

VITALS = ("hr", "pr", "spo2", "sbp", "dbp", "map", "rr")
MIMIC = {
    "elapsed_s": "ts",
    "HR_bpm": "hr",
    "PULSE_bpm": "pr",
    "SpO2_pct": "spo2",
    "NBPSys_mmHg": "sbp",
    "NBPDias_mmHg": "dbp",
    "NBPMean_mmHg": "map",
    "RESP_per_min": "rr",
}
CHALLENGE = {"HR": "hr", "NISysABP": "sbp", "NIDiasABP": "dbp", "NIMAP": "map", "RespRate": "rr"}


def base_traces() -> tuple[list[dict[str, np.ndarray]], str]:
    root = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
    traces = []
    for path in sorted((root / "traces").glob("*.csv")):
        mimic = path.name.startswith("mimic2wdb")
        frame = load_trace(path, MIMIC if mimic else CHALLENGE, plausibility=False)
        cols = {"ts": frame["ts"].to_numpy(dtype=np.float64)}
        for v in VITALS:
            x = frame[v].to_numpy(dtype=np.float64) if v in frame else np.full(len(frame), np.nan)
            if mimic:
                x = np.where(x == 0, np.nan, x)  # MIMIC numerics: 0 = sensor off
            cols[v] = x
        traces.append(cols)
    if traces:
        return traces, f"real recorded traces from {root}/traces ({len(traces)} files), tiled"
    rng = np.random.default_rng(1)
    n = 100_000
    cols = {
        "ts": np.arange(n, dtype=np.float64),
        "hr": np.round(rng.normal(85, 20, n)),
        "pr": np.round(rng.normal(85, 20, n)),
        "spo2": np.round(rng.normal(95, 3, n)),
        "rr": np.round(rng.normal(16, 4, n)),
    }
    for v, mu in (("sbp", 130), ("dbp", 80), ("map", 95)):
        cols[v] = np.where(np.arange(n) % 300 == 0, np.round(rng.normal(mu, 25, n)), np.nan)
    return [cols], "SYNTHETIC noisy trace (tests/fixtures/traces absent), tiled"


def tile(traces: list[dict[str, np.ndarray]], want: int) -> tuple[dict[str, np.ndarray], int]:
    one = {k: np.concatenate([t[k] for t in traces]) for k in ("ts", *VITALS)}
    # consecutive traces and copies follow each other in time, one hour apart
    offsets, offset = [], 0.0
    for t in traces:
        offsets.append(np.full(t["ts"].size, offset) + t["ts"] - t["ts"][0])
        offset = offsets[-1][-1] + 3600.0
    one["ts"] = np.concatenate(offsets)
    span = offset
    per = int(sum(np.count_nonzero(~np.isnan(one[v])) for v in VITALS))
    reps = -(-want // per)
    out = {v: np.tile(one[v], reps) for v in VITALS}
    out["ts"] = (np.arange(reps, dtype=np.float64)[:, None] * span + one["ts"][None, :]).ravel()
    return out, per * reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readings", type=int, default=10_000_000)
    ap.add_argument("--live", type=int, default=200_000, help="readings fed to the live engine")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    traces, label = base_traces()
    frame, n = tile(traces, args.readings)
    rules = default_rules()
    print(f"trace: {label}: {n:,} readings over {frame['ts'].size:,} rows, {len(rules)} default rules")

    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        episodes = replay_table(frame, rules)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    episodes.to_list()
    to_list_s = time.perf_counter() - t0
    span = frame["ts"][-1] - frame["ts"][0]
    changes = []
    for k in range(0, int(span // 7200)):
        base = k * 7200.0
        changes += [
            ("baseline", base),
            ("infusion", base + 900),
            ("recovery", base + 3300),
            ("discharged", base + 6900),
        ]
    t0 = time.perf_counter()
    phased = replay_table(frame, rules, changes)
    phased_s = time.perf_counter() - t0
    offline_rate = n / best
    print(
        f"offline: {best:.3f} s (best of {args.repeat}), {offline_rate / 1e6:.1f} M readings/s "
        f"({len(episodes):,} episodes, all infusion); turning them into Episode objects: {to_list_s:.3f} s more "
        f"({n / (best + to_list_s) / 1e6:.1f} M readings/s including it)"
    )
    judged = sum(int(np.count_nonzero(~np.isnan(frame[v]))) for v in {r.vital.value for r in rules} | {"pr"})
    print(
        f"  (of which {judged:,} readings of vitals the rules judge: {judged / best / 1e6:.1f} M of those/s; "
        f"the rest, rr and map, are skipped)"
    )
    print(
        f"offline with {len(changes):,} phase changes: {phased_s:.3f} s, {n / phased_s / 1e6:.1f} M readings/s "
        f"({len(phased):,} episodes)"
    )

    # live: the first readings of the same trace, batched per timestamp as the pipeline would hand them over
    rows = 1
    while rows < frame["ts"].size and sum(np.count_nonzero(~np.isnan(frame[v][:rows])) for v in VITALS) < args.live:
        rows = min(frame["ts"].size, rows * 2)
    sub = {k: frame[k][:rows] for k in frame}
    batches = list(readings_of(sub))
    live_n = sum(len(b) for b in batches)
    session_ts = float(sub["ts"][0]) - 1
    engine = AlarmEngine(rules)
    from monitor.model import Phase, PhaseChange, Session

    s = Session(1, "trace", "bench", Phase.INFUSION, session_ts, phases=[PhaseChange(Phase.INFUSION, session_ts, "b")])
    engine.register_session(s)
    for b in batches:
        for r in b:
            r.session_id = 1
    t0 = time.perf_counter()
    for b in batches:
        engine.judge(b)
    live_s = time.perf_counter() - t0
    live_rate = live_n / live_s
    # one reading per call (the worst case: a monitor sending each value in its own message)
    singles = [[r] for b in batches for r in b]
    engine2 = AlarmEngine(rules)
    engine2.register_session(s)
    t0 = time.perf_counter()
    for one in singles:
        engine2.judge(one)
    single_us = (time.perf_counter() - t0) / len(singles) * 1e6
    print(
        f"live: {live_n:,} readings in {live_s:.3f} s: {live_rate / 1e3:.0f} k readings/s, "
        f"{1e6 / live_rate:.2f} us/reading"
    )
    print(f"live, one reading per judge() call: {single_us:.2f} us/reading")
    print(f"ratio offline/live: {offline_rate / live_rate:.0f}x")
    print(
        f"goals: offline >= 20 M/s: {'met' if offline_rate >= 20e6 else 'NOT met'}; ratio >= 50x: "
        f"{'met' if offline_rate / live_rate >= 50 else 'NOT met'}; live < 20 us: "
        f"{'met' if 1e6 / live_rate < 20 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
