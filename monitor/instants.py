"""An instant typed by a person (``--from``, ``?from=``): POSIX seconds or ISO 8601, offset-less read as UTC."""

from __future__ import annotations

from datetime import datetime


def parse_instant(text: str) -> float:
    """POSIX seconds for ``text``; raises ValueError naming what was expected."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not POSIX seconds or an ISO 8601 time: {text!r}") from None
    if stamp.tzinfo is None:
        return (stamp - datetime(1970, 1, 1)).total_seconds()
    return stamp.timestamp()
