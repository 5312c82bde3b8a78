"""Output that cannot run: text cells of CSV files that a spreadsheet would take for a formula.

OWASP's rule (CSV injection): a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading apostrophe, which spreadsheets show as text and never evaluate. Only text
cells: numbers (a negative value) are written as numbers.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text
