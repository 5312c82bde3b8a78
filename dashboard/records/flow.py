"""Printed records that flow over as many A4 pages as they need (matplotlib, Agg), with the same header
(clinic, document, patient identifier) and footer (page i of n) on every page.

Text is laid out in a monospaced font, so a table is lines of padded columns that align exactly, wrap
where they must and stay searchable and extractable. All text is data: never parsed as mathtext
(``parse_math=False`` on every call) and made inert first (:func:`inert_pdf_text`: control, format and
unpaired surrogate characters become U+FFFD), so any string a user typed prints without harm or crash.
"""

from __future__ import annotations

import functools
import io
import logging
import textwrap
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import matplotlib

matplotlib.use("Agg")  # before any figure: no display on a server

from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont
from matplotlib.ft2font import FT2Font
from matplotlib.lines import Line2D

# Font subsetting logs every glyph at INFO: noise in the service log and on the CLI.
logging.getLogger("fontTools").setLevel(logging.WARNING)

A4_PT = (595.0, 842.0)
MONO = "DejaVu Sans Mono"
SANS = "DejaVu Sans"
#: DejaVu Sans Mono advances 0.602 em per character.
ADVANCE_EM = 0.602
MARGIN = 36.0
TOP = 66.0  # room for the header
BOTTOM = 40.0  # room for the footer
#: Shown where a record has no value (the form's field was not filled in, or the column is absent).
NOT_RECORDED = "not recorded"
_REPLACEMENT = "\ufffd"
_UNSAFE = {"Cc", "Cf", "Cs", "Co", "Cn"}


@functools.cache
def _glyphs() -> frozenset[int]:
    """Code points the body font draws: any other prints as U+FFFD (visibly), never as a blank."""
    return frozenset(FT2Font(findfont(FontProperties(family=MONO))).get_charmap())


def inert_pdf_text(text: object) -> str:
    """Any value as printable text: unpaired surrogates, control and format characters (bidi overrides
    that would reorder what a reader sees included) and characters the font lacks replaced by U+FFFD;
    tabs become spaces."""
    s = str(text).replace("\t", " ")
    s = s.encode("utf-8", "replace").decode("utf-8")  # an unpaired surrogate cannot be encoded: "?"
    glyphs = _glyphs()
    return "".join(
        c if c == "\n" or (ord(c) in glyphs and unicodedata.category(c) not in _UNSAFE) else _REPLACEMENT for c in s
    )


def clock(ts: float | None, zone: tzinfo | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time in the clinic's zone (None: the server's local zone)."""
    if ts is None:
        return NOT_RECORDED
    return datetime.fromtimestamp(ts, tz=UTC).astimezone(zone).strftime(fmt)


def zone_name(zone: tzinfo | None, at: float) -> str:
    """The zone as printed: its IANA name and its abbreviation and offset at ``at`` ("Europe/Berlin, CET +0100")."""
    local = datetime.fromtimestamp(at, tz=UTC).astimezone(zone)
    key = getattr(zone, "key", None)
    abbr = local.strftime("%Z %z")
    return f"{key}, {abbr}" if key else f"server local time, {abbr}"


@dataclass
class _Line:
    text: str
    size: float
    bold: bool = False
    colour: str = "#000000"
    family: str = MONO


@dataclass
class _Chart:
    """Axes drawn by ``draw`` in a band ``height`` points tall across the text width."""

    draw: Callable[[Axes], None]
    height: float


@dataclass
class Flow:
    """A document built top to bottom; :meth:`pdf` paginates it and stamps header and footer on each page."""

    title: str
    header_left: str
    header_right: str
    size: float = 7.0
    _pages: list[list[tuple[float, _Line | _Chart]]] = field(default_factory=lambda: [[]])
    _y: float = TOP

    @property
    def columns(self) -> int:
        """Characters per line at the body size."""
        return int((A4_PT[0] - 2 * MARGIN) / (self.size * ADVANCE_EM))

    def _lead(self, size: float) -> float:
        return size * 1.32

    def _place(self, line: _Line) -> None:
        lead = self._lead(line.size)
        if self._y + lead > A4_PT[1] - BOTTOM:
            self.new_page()
        self._pages[-1].append((self._y, line))
        self._y += lead

    def chart(self, draw: Callable[[Axes], None], height: float) -> None:
        """A chart (matplotlib axes, drawn when the page is) in the flow of text."""
        if self._y + height > A4_PT[1] - BOTTOM:
            self.new_page()
        self._pages[-1].append((self._y, _Chart(draw, height)))
        self._y += height

    def new_page(self) -> None:
        self._pages.append([])
        self._y = TOP

    def room(self) -> float:
        return A4_PT[1] - BOTTOM - self._y

    def keep(self, lines: int) -> None:
        """Start a new page unless ``lines`` body lines still fit (a heading stays with what follows it)."""
        if self.room() < lines * self._lead(self.size):
            self.new_page()

    def space(self, pt: float = 5.0) -> None:
        self._y += pt

    def heading(self, text: str) -> None:
        self.space(4.0)
        self.keep(4)
        self._place(_Line(inert_pdf_text(text), 9.0, bold=True, family=SANS))
        self.space(1.5)

    def text(self, text: object, *, bold: bool = False, colour: str = "#000000", indent: int = 0) -> None:
        """A paragraph, wrapped to the page (its own line breaks kept); never cut short."""
        width = self.columns - indent
        for raw in inert_pdf_text(text).split("\n"):
            for part in textwrap.wrap(raw, width, break_long_words=True, replace_whitespace=False) or [""]:
                self._place(_Line(" " * indent + part, self.size, bold=bold, colour=colour))

    def pairs(self, items: Sequence[tuple[str, object]], key_width: int = 30) -> None:
        """Label: value lines (a long value wraps under itself)."""
        for key, value in items:
            shown = NOT_RECORDED if value is None or value == "" else inert_pdf_text(value)
            lines = textwrap.wrap(shown, self.columns - key_width, break_long_words=True) or [""]
            for i, part in enumerate(lines):
                label = inert_pdf_text(key).ljust(key_width - 1)[: key_width - 1] + " " if i == 0 else " " * key_width
                self._place(_Line(label + part, self.size))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[int]) -> None:
        """Columns of fixed character widths; a cell too long wraps within its column (nothing is cut)."""
        self.keep(3)
        self._row(header, widths, bold=True)
        if not rows:
            self._place(_Line("(none)", self.size, colour="#555555"))
        for row in rows:
            self._row(row, widths)

    def _row(self, cells: Sequence[object], widths: Sequence[int], bold: bool = False) -> None:
        wrapped = [
            textwrap.wrap(inert_pdf_text("" if c is None else c), max(1, w - 1), break_long_words=True) or [""]
            for c, w in zip(cells, widths, strict=True)
        ]
        for i in range(max(len(w) for w in wrapped)):
            line = "".join((w[i] if i < len(w) else "").ljust(width) for w, width in zip(wrapped, widths, strict=True))
            self._place(_Line(line.rstrip(), self.size, bold=bold))

    def signature(self, role: str, name: str) -> None:
        """A line to sign on, with who and in what role."""
        self.keep(4)
        self.space(14.0)
        self._place(_Line("_" * 44 + "    date/time " + "_" * 22, self.size))
        self._place(_Line(inert_pdf_text(f"{name} ({role})"), self.size))

    def pdf(self, footer: str) -> bytes:
        pages = [p for p in self._pages if p] or [[]]
        out = io.BytesIO()
        meta = {"Title": inert_pdf_text(self.title), "Creator": "ivmon"}
        with PdfPages(out, metadata=meta) as pdf:
            for number, lines in enumerate(pages, 1):
                fig = self._figure(lines, number, len(pages), footer)
                pdf.savefig(fig)
        return out.getvalue()

    def _figure(self, lines: list[tuple[float, _Line | _Chart]], number: int, total: int, footer: str) -> Figure:
        w, h = A4_PT
        fig = Figure(figsize=(w / 72, h / 72))

        def put(x: float, y: float, line: _Line, ha: str = "left") -> None:
            fig.text(
                x / w,
                1 - y / h,
                line.text,
                fontsize=line.size,
                family=line.family,
                weight="bold" if line.bold else "normal",
                color=line.colour,
                va="top",
                ha=ha,
                parse_math=False,
            )

        put(MARGIN, 22, _Line(inert_pdf_text(self.title), 12.0, bold=True, family=SANS))
        put(MARGIN, 40, _Line(inert_pdf_text(self.header_left), 7.5, family=SANS))
        put(w - MARGIN, 40, _Line(inert_pdf_text(self.header_right), 7.5, bold=True, family=SANS), ha="right")
        fig.add_artist(Line2D([MARGIN / w, 1 - MARGIN / w], [1 - 56 / h] * 2, lw=0.6, color="#444"))
        for y, item in lines:
            if isinstance(item, _Chart):
                # Room on the left and right for the axes' labels, below for the dates.
                left, right, below = MARGIN + 36, MARGIN + 36, 22
                rect = (
                    left / w,
                    1 - (y + item.height - below) / h,
                    (w - left - right) / w,
                    (item.height - below - 6) / h,
                )
                item.draw(fig.add_axes(rect))
            else:
                put(MARGIN, y, item)
        put(MARGIN, h - 26, _Line(inert_pdf_text(footer), 6.5, colour="#444444", family=SANS))
        put(w - MARGIN, h - 26, _Line(f"Page {number} of {total}", 7.0, bold=True, family=SANS), ha="right")
        return fig
