"""``ivmon replay``: a recorded trace through the alarm rules, offline and fast.

A ``phase`` column (as ``ivmon simulate --to csv:FILE`` writes) gives the
phases when ``--phases`` is not given; ``--patient`` picks one patient of a
multi-patient file. Writes one CSV row per episode: ``rule_id,vital,priority,start_s,end_s,worst``
(seconds from the trace's first timestamp; ``end_s`` empty while still active
at the end), ordered by start then rule id. The lead's ``monitor/cli.py``
hooks :func:`add_replay_arguments` and :func:`replay_command` in.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from alerts.replay import Episode, replay
from alerts.rules import RuleError, default_rules, load_rules
from alerts.trace import VITAL_KEYS, TraceError, load_trace, phases_from_column, select_patient
from monitor.inert import inert_cell
from monitor.model import Phase

HEADER = ("rule_id", "vital", "priority", "start_s", "end_s", "worst")


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="trace: CSV or Parquet with ts and vital columns")
    parser.add_argument("--rules", type=Path, metavar="RULES.toml", help="rule file (default: the clinic defaults)")
    parser.add_argument(
        "--phases",
        "--phase-times",
        dest="phases",
        metavar="PHASE=SECONDS,...",
        help="phase changes in seconds from the trace start, e.g. baseline=0,infusion=900,recovery=3300 "
        "(default: the whole trace is infusion)",
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the episodes CSV here (default: stdout)")
    parser.add_argument(
        "--map",
        dest="mapping",
        metavar="COLUMN=KEY,...",
        help="rename columns to vital keys (or ts), e.g. HR_bpm=hr,SpO2_pct=spo2",
    )
    parser.add_argument("--zero-is-missing", action="store_true", help="treat 0 as no reading (some monitor exports)")
    parser.add_argument(
        "--patient",
        metavar="ID",
        help="the patient to replay from a multi-patient trace (ivmon simulate --to csv:FILE); "
        "its phase column gives the phases unless --phases is given",
    )


def parse_pairs(text: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{what}: expected NAME=VALUE, got {part.strip()!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def parse_phases(text: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    known = {p.value for p in Phase}
    for name, value in parse_pairs(text, "--phases"):
        if name not in known:
            raise ValueError(f"--phases: unknown phase {name!r} (known: {', '.join(sorted(known))})")
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError(f"--phases: {name}={value!r} is not a number of seconds") from None
        if out and seconds < out[-1][1]:
            raise ValueError(f"--phases: {name} at {seconds:g} s comes before {out[-1][0]} at {out[-1][1]:g} s")
        out.append((name, seconds))
    return out


def parse_map(text: str) -> dict[str, str]:
    mapping = dict(parse_pairs(text, "--map"))
    bad = sorted(v for v in mapping.values() if v not in VITAL_KEYS | {"ts"})
    if bad:
        raise ValueError(f"--map: unknown vital key(s) {', '.join(bad)} (known: {', '.join(sorted(VITAL_KEYS))}, ts)")
    return mapping


def _num(x: float) -> str:
    return format(x, ".10g")


def write_episodes(episodes: Sequence[Episode], t0: float, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for ep in episodes:
        writer.writerow(
            (
                inert_cell(ep.rule_id),
                ep.vital.value,
                ep.priority.value,
                _num(ep.start - t0),
                "" if ep.end is None else _num(ep.end - t0),
                _num(ep.worst),
            )
        )


def replay_command(args: argparse.Namespace) -> int:
    try:
        rules = load_rules(args.rules) if args.rules else default_rules()
        mapping = parse_map(args.mapping) if args.mapping else None
        rel_phases = parse_phases(args.phases) if args.phases else None
        frame = select_patient(load_trace(args.file, mapping), args.patient)
        t0 = float(frame["ts"].min()) if len(frame) else 0.0
        phases = [(name, t0 + s) for name, s in rel_phases] if rel_phases else phases_from_column(frame)
    except (RuleError, TraceError, ValueError) as exc:
        print(f"ivmon replay: {exc}", file=sys.stderr)
        return 2
    episodes = replay(frame, rules, phases, zero_is_missing=args.zero_is_missing)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            write_episodes(episodes, t0, fh)
        print(f"{len(episodes)} alarm episodes written to {args.out}", file=sys.stderr)
    else:
        write_episodes(episodes, t0, sys.stdout)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m alerts.cli FILE ...`` (the same as ``ivmon replay``)."""
    parser = argparse.ArgumentParser(prog="ivmon replay", description=__doc__.splitlines()[0] if __doc__ else None)
    add_replay_arguments(parser)
    return replay_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
