"""``ivmon replay``: recorded traces through the alarm rules, offline and fast.

A ``phase`` column (as ``ivmon simulate --to csv:FILE`` writes) gives the
phases when ``--phases`` is not given. A trace with a ``patient`` column is
replayed patient by patient (each with its own phases and its own time
origin, exactly as ``--patient ID`` replays one of them) and the CSV gets a
leading ``patient`` column; ``--patient`` picks one patient. Writes one CSV
row per episode: ``rule_id,vital,priority,start_s,end_s,worst`` (seconds from
the patient's first timestamp; ``end_s`` empty while still active at the
end), ordered by start then rule id.

``--db [URL]`` replays stored sessions instead (the configured database without a URL; the rules:
``--rules``, else the rule-set version in force in that database): each
session's valid readings, phase changes and latest rule override, started in ``[--from, --to)``,
at ``--bed``, of ``--protocol``; the CSV is led by a ``session`` column and times are seconds
from the session's start. ``monitor/cli.py`` hooks :func:`add_replay_arguments` and
:func:`replay_command` in.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from alerts import rule_sets
from alerts.cases import Case, replay_cases, stored_cases, trace_cases
from alerts.replay import Episode
from alerts.rules import Rule, RuleError, default_rules, load_rules, rules_from_settings
from alerts.trace import VITAL_KEYS, TraceError, load_trace
from monitor.config import Settings, load_settings
from monitor.inert import inert_cell
from monitor.instants import parse_instant
from monitor.model import Phase
from monitor.store import database
from monitor.store.replay_source import StoredAlarm, physiological_alarms

HEADER = ("rule_id", "vital", "priority", "start_s", "end_s", "worst")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """What to replay: a trace FILE, or stored sessions (``--db``); shared by ``replay`` and ``whatif``."""
    parser.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="trace: CSV or Parquet with ts and vital columns"
    )
    parser.add_argument(
        "--db",
        nargs="?",
        const="",
        metavar="URL",
        help="replay stored sessions instead of a FILE (without URL: the configured database)",
    )
    parser.add_argument("--config", metavar="FILE", help="configuration file (with --db: its database)")
    parser.add_argument(
        "--from", dest="start", metavar="WHEN", help="with --db: sessions started from (ISO 8601 or POSIX seconds)"
    )
    parser.add_argument("--to", dest="end", metavar="WHEN", help="with --db: sessions started before")
    parser.add_argument("--bed", metavar="ID", help="with --db: sessions at this chair only")
    parser.add_argument("--protocol", metavar="ID", help="with --db: sessions of this protocol only")
    parser.add_argument(
        "--phases",
        "--phase-times",
        dest="phases",
        metavar="PHASE=SECONDS,...",
        help="phase changes in seconds from the trace start, e.g. baseline=0,infusion=900,recovery=3300 "
        "(default: the whole trace is infusion)",
    )
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
        help="replay only this patient of a multi-patient trace (ivmon simulate --to csv:FILE; default: every "
        "patient, each with its own phase column, and a leading patient column in the CSV)",
    )


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--rules", type=Path, metavar="RULES.toml", help="rule file (default: the clinic defaults)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the episodes CSV here (default: stdout)")


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


def episode_rows(episodes: Iterable[Episode], t0: float) -> Iterator[tuple[str, ...]]:
    """The CSV cells of each episode (times in seconds from ``t0``)."""
    for ep in episodes:
        yield (
            inert_cell(ep.rule_id),
            ep.vital.value,
            ep.priority.value,
            _num(ep.start - t0),
            "" if ep.end is None else _num(ep.end - t0),
            _num(ep.worst),
        )


def write_episodes(episodes: Sequence[Episode], t0: float, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(episode_rows(episodes, t0))


def write_keyed_episodes(key_name: str, groups: Iterable[tuple[str, Sequence[Episode], float]], out: TextIO) -> int:
    """Episodes of many patients or sessions, each row led by its key; returns the number written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((key_name, *HEADER))
    count = 0
    for key, episodes, t0 in groups:
        cell = inert_cell(key)
        for row in episode_rows(episodes, t0):
            writer.writerow((cell, *row))
            count += 1
    return count


def settings_of(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"db_url": args.db} if args.db else {}
    return load_settings(Path(args.config) if args.config else None, **overrides)


def _engine_for(args: argparse.Namespace) -> Engine:
    engine = database.make_engine(settings_of(args).database_url)
    database.upgrade(engine)
    return engine


def in_force_rules(args: argparse.Namespace) -> list[Rule]:
    """The clinic rules in force in the database (the latest rule-set version), else the configured file."""
    engine = _engine_for(args)
    try:
        in_force = rule_sets.current(engine)
    finally:
        engine.dispose()
    return in_force.rules if in_force is not None else rules_from_settings(settings_of(args).alarms.rules_file)


def load_cases(args: argparse.Namespace, answers: list[StoredAlarm] | None = None) -> tuple[list[Case], str]:
    """The cases ``args`` name and the CSV key column (``patient``, ``session``, or "" for one trace).

    With ``answers`` (a list), stored sessions' physiological alarms are appended to it.
    """
    if (args.file is None) == (args.db is None):
        raise ValueError("give either a trace FILE or --db [URL]")
    if args.db is None:
        if args.start or args.end or args.bed or args.protocol:
            raise ValueError("--from, --to, --bed and --protocol choose stored sessions: use them with --db")
        mapping = parse_map(args.mapping) if args.mapping else None
        rel_phases = parse_phases(args.phases) if args.phases else None
        frame = load_trace(args.file, mapping)
        keyed = args.patient is None and "patient" in frame.columns
        return trace_cases(frame, args.patient, rel_phases), "patient" if keyed else ""
    if args.patient or args.phases or args.mapping or args.zero_is_missing:
        raise ValueError("--patient, --phases, --map and --zero-is-missing apply to a trace FILE, not --db")
    start = parse_instant(args.start) if args.start else None
    end = parse_instant(args.end) if args.end else None
    engine = _engine_for(args)
    try:
        cases = stored_cases(engine, start=start, end=end, bed=args.bed, protocol=args.protocol)
        if answers is not None:
            answers.extend(physiological_alarms(engine, [int(c.key) for c in cases]))
    finally:
        engine.dispose()
    return cases, "session"


def replay_command(args: argparse.Namespace) -> int:
    try:
        if args.rules:
            rules = load_rules(args.rules)
        else:
            rules = in_force_rules(args) if args.db is not None else default_rules()
        cases, key_name = load_cases(args)
    except (RuleError, TraceError, ValueError, SQLAlchemyError) as exc:
        print(f"ivmon replay: {exc}", file=sys.stderr)
        return 2
    results = (
        (done.case.key, done.episodes, done.case.t0)
        for done in replay_cases(cases, rules, zero_is_missing=args.zero_is_missing)
    )
    with open(args.out, "w", encoding="utf-8", newline="") if args.out else nullcontext(sys.stdout) as out:
        if key_name:
            count = write_keyed_episodes(key_name, results, out)
        else:
            _, episodes, t0 = next(results)
            write_episodes(episodes, t0, out)
            count = len(episodes)
    if args.out:
        what = "session(s)" if key_name == "session" else "patient(s)"
        print(f"{count} alarm episodes of {len(cases)} {what} written to {args.out}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m alerts.cli FILE ...`` (the same as ``ivmon replay``)."""
    parser = argparse.ArgumentParser(prog="ivmon replay", description=__doc__.splitlines()[0] if __doc__ else None)
    add_replay_arguments(parser)
    return replay_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
