"""``ivmon simulate``: simulated patients written as CSV or sent over a real wire protocol.

The ``ivmon`` command line adds these arguments to its ``simulate`` sub-command
and calls :func:`simulate_command`; ``python -m simulators.cli`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from monitor.clock import ScaledClock
from simulators.live import LivePatient, run_live
from simulators.physiology import SessionTrace, simulate_session
from simulators.scenarios import SCENARIOS
from simulators.targets import TARGETS, Answered, Target

#: Where each ``--to`` scheme's target lives; imported on demand so a missing one only matters when asked for.
TARGET_MODULES: dict[str, str] = {
    "csv": "simulators.emit.csv",
    "mllp": "simulators.emit.mllp_target",
    "serial": "simulators.emit.serial_target",
}


@runtime_checkable
class BulkTarget(Protocol):
    """A target that takes whole sessions at once, as fast as it can (CSV)."""

    def write_sessions(self, traces: Iterable[SessionTrace]) -> int: ...


class TargetUnavailable(Exception):
    pass


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", nargs="?", help="scenario name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--to",
        default="csv:-",
        metavar="TARGET",
        help="csv:FILE (csv:- = standard output; the default), mllp://HOST:PORT or serial:DEVICE",
    )
    parser.add_argument("--protocol", help="serial protocol name (with --to serial:DEVICE)")
    parser.add_argument("--patients", type=_positive_int, default=1, help="number of patients (default 1)")
    parser.add_argument("--speed", type=_positive_float, default=1.0, help="time factor for live targets (default 1)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default 0): same seed, same patients")
    parser.add_argument(
        "--stagger",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="simulated seconds between the patients' session starts for live targets (default 60)",
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        metavar="SECONDS",
        help="live targets: stop after this many seconds of real time (the rows due by then are still sent)",
    )
    parser.add_argument(
        "--json", action="store_true", help="also print the final summary as one JSON object on standard output"
    )


def load_target(to: str, args: argparse.Namespace) -> Target:
    scheme = to.split(":", 1)[0].lower()
    module = TARGET_MODULES.get(scheme)
    if module is None:
        raise ValueError(f"unknown target {to!r}: use csv:FILE, mllp://HOST:PORT or serial:DEVICE")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise TargetUnavailable(f"target not available: {scheme} ({module} is not installed)") from None
    factory = TARGETS.get(scheme)
    if factory is None:
        raise TargetUnavailable(f"target not available: {scheme} ({module} registers no target)")
    return factory(to, args)


def sessions(scenario: str, seed: int, patients: int) -> Iterator[SessionTrace]:
    """Patients 0 .. patients-1 of ``scenario`` under ``seed``, rendered one at a time."""
    for patient in range(patients):
        yield simulate_session(scenario, seed, patient)


def simulate_command(args: argparse.Namespace) -> int:
    """Run ``ivmon simulate``; returns the process exit status."""
    if args.list:
        width = max(len(name) for name in SCENARIOS)
        for name, scenario in SCENARIOS.items():
            print(f"{name:<{width}}  {scenario.description}")
        return 0
    problem = _usage_problem(args)
    if problem:
        print(f"ivmon simulate: {problem}", file=sys.stderr)
        return 2
    # The clock live readings are stamped on (``speed`` times the wall clock from now): one object for
    # the pacer's stamps and a target's ACK delays (simulators.live.run_live).
    args.stamps = ScaledClock(args.speed)
    try:
        target = load_target(args.to, args)
    except (TargetUnavailable, ValueError) as exc:
        print(f"ivmon simulate: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1

    began = time.perf_counter()
    status, rows = _run(args, target)
    answered = target if isinstance(target, Answered) else None
    # What a receiver acknowledged is worth reporting even when the run stopped early.
    if status == 0 or answered is not None:
        _report(args, target, rows, time.perf_counter() - began)
    if status == 0 and answered is not None and not answered.all_accepted:
        return 1  # a refused or unanswered message is not a successful run
    return status


def _usage_problem(args: argparse.Namespace) -> str | None:
    if not args.scenario:
        return "a scenario is required (see --list)"
    if args.scenario not in SCENARIOS:
        return f"unknown scenario {args.scenario!r}; known: {', '.join(SCENARIOS)}"
    if args.to.lower().startswith("serial:") and not args.protocol:
        return "--to serial:DEVICE needs --protocol NAME"
    if args.json and args.to.lower() == "csv:-":
        return "--json prints on standard output, which --to csv:- already takes: use --to csv:FILE"
    return None


def _run(args: argparse.Namespace, target: Target) -> tuple[int, int | None]:
    """(exit status, rows written or sent: None when the run stopped early); errors are printed here."""
    try:
        if isinstance(target, BulkTarget):
            return 0, target.write_sessions(sessions(args.scenario, args.seed, args.patients))
        patients = [LivePatient(args.scenario, args.seed, p) for p in range(args.patients)]
        return 0, asyncio.run(_live(patients, target, args))
    except OSError as exc:
        print(f"ivmon simulate: {args.to}: {exc}", file=sys.stderr)
        return 1, None
    except KeyboardInterrupt:
        return 130, None


def _report(args: argparse.Namespace, target: Target, rows: int | None, elapsed: float) -> None:
    """The final summary line on standard error; with ``--json`` the same figures as JSON on standard output."""
    unit = "rows" if isinstance(target, BulkTarget) else "patient-seconds"
    what = f"{rows} {unit}" if rows is not None else "stopped early"
    line = (
        f"ivmon simulate: {args.patients} {args.scenario} patient(s), seed {args.seed}: {what} to {args.to} "
        f"in {elapsed:.2f} s (synthetic data)"
    )
    if isinstance(target, Answered):
        line += f"; {target.report()}"
    print(line, file=sys.stderr)
    if args.json:
        figures: dict[str, object] = {
            "scenario": args.scenario,
            "patients": args.patients,
            "seed": args.seed,
            "to": args.to,
            "speed": args.speed,
            "stagger_s": args.stagger,
            "duration_s": args.duration,
            "completed": rows is not None,
            "rows": rows,
            "elapsed_s": round(elapsed, 3),
        }
        if isinstance(target, Answered):
            figures.update(target.summary())
        print(json.dumps(figures), flush=True)


async def _live(patients: Sequence[LivePatient], target: Target, args: argparse.Namespace) -> int:
    await target.open()
    try:
        return await run_live(
            patients,
            target,
            speed=args.speed,
            stagger_s=args.stagger,
            duration_s=args.duration,
            epoch0=args.stamps.now(),
        )
    finally:
        await target.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ivmon simulate", description=__doc__.splitlines()[0] if __doc__ else None)
    add_simulate_arguments(parser)
    return simulate_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
