"""Reporting periods: NHS financial-year quarters (April to March), e.g. ``2025-26-Q2``.

Global sum payments are recalculated quarterly from the registered list at the start of the
quarter, so a quarter is the unit a run publishes for.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_PATTERN = re.compile(r"^\s*(\d{4})\s*[-/]\s*(\d{2})\s*[-\s]?\s*Q([1-4])\s*$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Period:
    """One financial-year quarter: ``start_year`` 2025 and ``quarter`` 2 is 2025/26 Q2 (Jul-Sep 2025)."""

    start_year: int
    quarter: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read ``2025-26-Q2``, ``2025/26 Q2`` or ``2025-26Q2``; reject anything else."""
        match = _PATTERN.match(text or "")
        if not match:
            raise ValueError(
                f"period {text!r} is not a financial-year quarter like '2025-26-Q2' or '2025/26 Q2'"
            )
        start, end, quarter = int(match[1]), int(match[2]), int(match[3])
        if (start + 1) % 100 != end:
            raise ValueError(f"period {text!r}: {end:02d} does not follow {start}")
        return cls(start, quarter)

    @classmethod
    def containing(cls, day: dt.date) -> Period:
        """The quarter a calendar date falls in (April starts Q1)."""
        start_year = day.year if day.month >= 4 else day.year - 1
        quarter = ((day.month - 4) % 12) // 3 + 1
        return cls(start_year, quarter)

    @property
    def financial_year(self) -> str:
        """``2025/26``: the key of price and QOF tables in the parameter files."""
        return f"{self.start_year}/{(self.start_year + 1) % 100:02d}"

    @property
    def slug(self) -> str:
        """``2025-26-Q2``: used in folder names and the warehouse."""
        return f"{self.start_year}-{(self.start_year + 1) % 100:02d}-Q{self.quarter}"

    @property
    def label(self) -> str:
        """``2025/26 Q2``: used in workbooks."""
        return f"{self.financial_year} Q{self.quarter}"

    @property
    def start_date(self) -> dt.date:
        month = 4 + 3 * (self.quarter - 1)
        year = self.start_year + (month - 1) // 12
        return dt.date(year, (month - 1) % 12 + 1, 1)

    @property
    def end_date(self) -> dt.date:
        nxt = self.next()
        return nxt.start_date - dt.timedelta(days=1)

    def next(self) -> Period:
        return Period(self.start_year + (self.quarter == 4), self.quarter % 4 + 1)

    def __str__(self) -> str:
        return self.slug
