"""What-if: the same cases replayed under the current and a proposed rule set, compared per rule and phase.

Definitions (what each column means, precisely):

* An episode's **phase** is the rule-phase in force at its start (``baseline``, ``infusion``, ``recovery``,
  ``unassigned``; a trace without phases is all ``infusion``).
* **Episodes now / proposed**: episodes of the rule id in that phase under the current / proposed rules;
  **difference** = proposed - now.
* **Alarm-minutes**: the summed length of those episodes; one still open at the end counts to the case's
  last reading (a session's: its last reading or phase change).
* **Median length**: the median episode length in seconds (empty without episodes).
* **Removed**: an episode now with no episode of the same rule id and vital in the same case overlapping it
  (closed intervals) under the proposal; **added**: the reverse. A longer delay that only shifts a start is
  neither; a rule renamed is all removed and added.
* **Removed actionable**: removed episodes whose stored alarm (same session, rule, vital and start) the
  nurse acknowledged as actionable. Only stored sessions (``--db``) have answers.

A case with its own rules (a session override) is replayed under them in both runs, so a proposal
changes nothing there (:attr:`Comparison.own_rules_cases` counts them).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from alerts.cases import Case, CaseEpisodes, replay_cases
from alerts.replay import Episode, scope_name
from alerts.rules import Rule
from monitor.model import PhaseChange, Vital
from monitor.store.replay_source import StoredAlarm

#: Column order of the comparison CSV and JSON.
COLUMNS = (
    "rule_id",
    "phase",
    "episodes_now",
    "episodes_proposed",
    "difference",
    "alarm_minutes_now",
    "alarm_minutes_proposed",
    "median_s_now",
    "median_s_proposed",
    "removed",
    "removed_actionable",
    "added",
)
PHASE_ORDER = ("baseline", "infusion", "recovery", "unassigned")


@dataclass(frozen=True, slots=True)
class Answer:
    """A stored alarm's nurse answer, keyed as the replay keys episodes."""

    case_key: str
    rule_id: str
    vital: str
    started: float
    actionable: bool | None


@dataclass(slots=True)
class Row:
    """One rule in one phase."""

    rule_id: str
    phase: str
    episodes_now: int = 0
    episodes_proposed: int = 0
    alarm_minutes_now: float = 0.0
    alarm_minutes_proposed: float = 0.0
    median_s_now: float | None = None
    median_s_proposed: float | None = None
    removed: int = 0
    removed_actionable: int = 0
    added: int = 0

    @property
    def difference(self) -> int:
        return self.episodes_proposed - self.episodes_now

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(slots=True)
class Comparison:
    rows: list[Row]
    cases: int
    #: Keys of the cases (sessions, patients) whose episodes differ, in case order.
    changed: list[str]
    own_rules_cases: int
    #: Whether any replayed episode had a stored nurse answer (False for traces: "not known").
    answers_known: bool
    now: list[tuple[str, Episode, float]] = field(default_factory=list)  # (case key, episode, case t0)
    proposed: list[tuple[str, Episode, float]] = field(default_factory=list)
    lengths_now: list[float] = field(default_factory=list)  # every episode's length, seconds
    lengths_proposed: list[float] = field(default_factory=list)

    @property
    def removed_actionable(self) -> int:
        return sum(r.removed_actionable for r in self.rows)

    @property
    def total(self) -> Row:
        """All rules in all phases (the median over every episode)."""
        out = Row("all rules", "all phases")
        for r in self.rows:
            out.episodes_now += r.episodes_now
            out.episodes_proposed += r.episodes_proposed
            out.alarm_minutes_now += r.alarm_minutes_now
            out.alarm_minutes_proposed += r.alarm_minutes_proposed
            out.removed += r.removed
            out.removed_actionable += r.removed_actionable
            out.added += r.added
        out.median_s_now = statistics.median(self.lengths_now) if self.lengths_now else None
        out.median_s_proposed = statistics.median(self.lengths_proposed) if self.lengths_proposed else None
        return out


def _phase_at(changes: Sequence[tuple[float, str]] | None, ts: float) -> str:
    if changes is None:
        return "infusion"  # a trace without phases is judged as one infusion
    i = bisect.bisect_right([t for t, _ in changes], ts) - 1
    return scope_name(changes[i][1] if i >= 0 else None)


def _changes(case: Case) -> list[tuple[float, str]] | None:
    if case.phases is None:
        return None
    out = []
    for item in case.phases:
        if isinstance(item, PhaseChange):
            out.append((item.ts, item.phase.value))
        else:
            out.append((float(item[1]), str(item[0])))
    return out


def _length(ep: Episode, last_ts: float) -> float:
    end = ep.end if ep.end is not None else max(last_ts, ep.start)
    return end - ep.start


class _Spans:
    """The episodes of one rule and vital in one case: they never overlap, so starts and ends both ascend."""

    def __init__(self, episodes: Sequence[Episode]) -> None:
        self.starts = [e.start for e in episodes]
        self.ends = [e.end if e.end is not None else math.inf for e in episodes]

    def overlap(self, ep: Episode) -> bool:
        """Whether any of them meets ``ep`` (closed intervals; an open episode runs on)."""
        i = bisect.bisect_left(self.ends, ep.start)  # the first that has not ended before ep starts
        end = ep.end if ep.end is not None else math.inf
        return i < len(self.starts) and self.starts[i] <= end


_NONE = _Spans([])


def _by_rule(episodes: Iterable[Episode]) -> dict[tuple[str, Vital], _Spans]:
    grouped: dict[tuple[str, Vital], list[Episode]] = defaultdict(list)
    for ep in episodes:
        grouped[(ep.rule_id, ep.vital)].append(ep)
    return {key: _Spans(sorted(eps, key=lambda e: e.start)) for key, eps in grouped.items()}


def _answer_key(case_key: str, rule_id: str, vital: str, started: float) -> tuple[str, str, str, float]:
    return case_key, rule_id, vital, round(started, 6)


def compare_replays(
    now: Sequence[CaseEpisodes], proposed: Sequence[CaseEpisodes], answers: Iterable[Answer] = ()
) -> Comparison:
    """The comparison of two replays of the same cases (in the same order)."""
    answer_of = {_answer_key(a.case_key, a.rule_id, a.vital, a.started): a.actionable for a in answers}
    rows: dict[tuple[str, str], Row] = {}
    lengths: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    changed: list[str] = []
    own = 0
    answers_known = False
    out_now: list[tuple[str, Episode, float]] = []
    out_proposed: list[tuple[str, Episode, float]] = []

    def row(rule_id: str, phase: str) -> Row:
        return rows.setdefault((rule_id, phase), Row(rule_id, phase))

    for a, b in zip(now, proposed, strict=True):
        case = a.case
        own += case.own_rules is not None
        changes = _changes(case)
        last = case.last_ts
        key = case.key
        if [(e.rule_id, e.vital, e.start, e.end) for e in a.episodes] != [
            (e.rule_id, e.vital, e.start, e.end) for e in b.episodes
        ]:
            changed.append(key)
        mine, theirs = _by_rule(a.episodes), _by_rule(b.episodes)
        for ep in a.episodes:
            phase = _phase_at(changes, ep.start)
            r = row(ep.rule_id, phase)
            length = _length(ep, last)
            r.episodes_now += 1
            r.alarm_minutes_now += length / 60.0
            lengths[("now", ep.rule_id, phase)].append(length)
            out_now.append((key, ep, case.t0))
            answer = answer_of.get(_answer_key(key, ep.rule_id, ep.vital.value, ep.start))
            answers_known |= answer is not None
            if not theirs.get((ep.rule_id, ep.vital), _NONE).overlap(ep):
                r.removed += 1
                r.removed_actionable += answer is True
        for ep in b.episodes:
            phase = _phase_at(changes, ep.start)
            r = row(ep.rule_id, phase)
            length = _length(ep, last)
            r.episodes_proposed += 1
            r.alarm_minutes_proposed += length / 60.0
            lengths[("proposed", ep.rule_id, phase)].append(length)
            out_proposed.append((key, ep, case.t0))
            if not mine.get((ep.rule_id, ep.vital), _NONE).overlap(ep):
                r.added += 1
    for (rule_id, phase), r in rows.items():
        now_l, prop_l = lengths.get(("now", rule_id, phase)), lengths.get(("proposed", rule_id, phase))
        r.median_s_now = statistics.median(now_l) if now_l else None
        r.median_s_proposed = statistics.median(prop_l) if prop_l else None
    phase_rank = {p: i for i, p in enumerate(PHASE_ORDER)}
    ordered = sorted(rows.values(), key=lambda r: (r.rule_id, phase_rank.get(r.phase, 99)))
    all_now = [x for (which, _, _), xs in lengths.items() if which == "now" for x in xs]
    all_proposed = [x for (which, _, _), xs in lengths.items() if which == "proposed" for x in xs]
    return Comparison(ordered, len(now), changed, own, answers_known, out_now, out_proposed, all_now, all_proposed)


def compare(
    cases: Sequence[Case],
    current: Sequence[Rule],
    proposed: Sequence[Rule],
    answers: Iterable[Answer] = (),
    *,
    zero_is_missing: bool = False,
) -> Comparison:
    """Replay ``cases`` under both rule sets and compare (see the module's definitions)."""
    now = list(replay_cases(cases, current, zero_is_missing=zero_is_missing))
    then = list(replay_cases(cases, proposed, zero_is_missing=zero_is_missing))
    return compare_replays(now, then, answers)


def answers_of(alarms: Iterable[StoredAlarm]) -> list[Answer]:
    """Stored alarms' answers, keyed as the replay of stored sessions keys its cases (the session id)."""
    return [Answer(str(a.session_id), a.rule_id, a.vital, a.started, a.actionable) for a in alarms]
