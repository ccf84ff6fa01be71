"""Reading LibreOffice's printed pages: which page a sheet starts on (its header names it)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def first_pages(pdf: Path, sheets: list[str]) -> dict[str, int]:
    """Sheet name -> the number of its first page, from each page's header (the sheet's name)."""
    count = int(re.search(r"Pages:\s+(\d+)", _run("pdfinfo", str(pdf))).group(1))  # type: ignore[union-attr]
    found: dict[str, int] = {}
    for page in range(1, count + 1):
        text = _run("pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-")
        header = next((line.strip() for line in text.splitlines() if line.strip()), "")
        if header in sheets:
            found.setdefault(header, page)
    return found


_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
_WORD = re.compile(r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">(.*?)</word>')


def words_off_page(pdf: Path) -> list[tuple[int, str, str]]:
    """(page, the page's header, word) of every word drawn across a page's edge: text that overflowed
    into the next page, cut in the middle. The PDF's text still holds such a word whole, so a check of
    the text alone would pass it."""
    off = []
    for number, page in enumerate(_PAGE.finditer(_run("pdftotext", "-bbox", str(pdf), "-")), 1):
        width, height = float(page[1]), float(page[2])
        words = _WORD.findall(page[3])
        for x0, y0, x1, y1, word in words:
            if float(x0) < 0 or float(y0) < 0 or float(x1) > width or float(y1) > height:
                off.append((number, words[0][4], word))
    return off
