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
