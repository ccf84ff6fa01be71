"""Where text prints: advance widths of Arial (regular and bold) and the widths of printed pages and
columns, for working out whether a title or note fits its sheet's first page.

The widths are Helvetica's AFM metrics, which Arial and Liberation Sans (the font LibreOffice prints
Arial with) share, in thousandths of the font size, for printable ASCII. Checked against LibreOffice's
PDFs of the workbooks: within 0.3 % of the printed width of every title and note line measured.
"""

from __future__ import annotations

from collections.abc import Sequence

_CHARS = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"


def _widths(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in text.split())


_REGULAR = _widths(
    "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 556 556 556 "
    "556 556 278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 278 500 667 556 833 722 778 "
    "667 778 722 667 611 722 667 944 667 667 611 278 278 278 469 556 333 556 556 500 556 556 278 556 "
    "556 222 222 500 222 833 556 556 556 556 333 500 278 556 500 722 500 500 500 334 260 334 584 "
)
_BOLD = _widths(
    "278 333 474 556 556 889 722 238 333 333 389 584 278 333 278 278 556 556 556 556 556 556 556 556 "
    "556 556 333 333 584 584 584 611 975 722 722 722 722 667 611 778 722 278 556 722 611 833 722 778 "
    "667 778 722 667 611 722 667 944 667 667 611 333 278 333 584 556 333 556 611 556 611 556 333 611 "
    "611 278 278 556 278 889 611 611 611 611 389 556 333 611 556 778 556 556 500 389 280 389 584 "
)
_WIDTHS = {False: dict(zip(_CHARS, _REGULAR, strict=True)), True: dict(zip(_CHARS, _BOLD, strict=True))}
_OTHER = 556  # a character outside printable ASCII (e.g. £): a digit's width


def text_points(text: str, size: float, *, bold: bool = False) -> float:
    """How wide ``text`` prints in Arial of ``size`` points, in points."""
    widths = _WIDTHS[bold]
    return sum(widths.get(c, _OTHER) for c in text) * size / 1000


def wrapped_line_count(text: str, room: float, size: float, *, bold: bool = False) -> int:
    """How many lines ``text`` takes wrapped at word boundaries in ``room`` points."""
    space = text_points(" ", size, bold=bold)
    lines, used = 1, 0.0
    for word in text.split():
        width = text_points(word, size, bold=bold)
        if used and used + space + width > room:
            lines, used = lines + 1, width
        else:
            used += width + (space if used else 0.0)
    return lines


#: the printable width of an A4 landscape page less the 0.4 in side margins (``print_setup``), points
PRINTABLE_POINTS = (297 / 25.4 - 0.8) * 72
#: room a cell keeps on each side of its text, both sides together (points; a little more than LibreOffice's)
CELL_PADDING_POINTS = 6.0
NOTE_FONT = (10.0, False)
TITLE_FONT = (14.0, True)


def column_points(width: float) -> float:
    """How wide a column of XlsxWriter ``width`` prints in LibreOffice, in points (it stores width + 0.71
    characters, and prints 7 points a character: measured on its PDFs)."""
    return (width + 0.71) * 7.0


def first_page_points(widths: Sequence[float]) -> float:
    """How wide text in A1 or A2 may print on a table's first page (points).

    Pages split between columns, so text overflowing from A1 or A2 is cut at the first column that
    does not fit (a wide column may leave half the paper empty), not at the paper's edge. When every
    column fits, the text runs on over the empty cells towards the paper's edge (a little short of it:
    text that runs near the edge makes LibreOffice print a page more across)."""
    used = 0.0
    for width in widths:
        if used and used + column_points(width) > PRINTABLE_POINTS:
            return used
        used += column_points(width)
    return PRINTABLE_POINTS * 0.97
