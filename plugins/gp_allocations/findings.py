"""What validation finds, as records: one result row per rule, one quarantine row per failing input
row (file, 1-based row, column, value, rule, severity), and the CSV files they are written to, with
every text cell neutralised against CSV injection. Shared by the suites (``validation.py``) and the
cross-extract rules (``cross_extract.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

RESULT_COLUMNS: list[str] = [
    "extract",
    "rule",
    "expectation_type",
    "column",
    "severity",
    "success",
    "failing_rows",
    "message",
    "description",
]
QUARANTINE_COLUMNS: list[str] = [
    "extract",
    "file",
    "row",
    "column",
    "value",
    "rule",
    "severity",
    "message",
    "practice_code",  # the row's practice, when its extract has one ('' otherwise)
]
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def result_row(
    extract: str,
    rule: str,
    etype: str,
    column: str,
    severity: str,
    success: bool,
    failing: int,
    message: str,
    description: str = "",
) -> dict[str, Any]:
    """One rule's result; ``description`` says what the rule checks (from its suite or rules file)."""
    return {
        "extract": extract,
        "rule": rule,
        "expectation_type": etype,
        "column": column,
        "severity": severity,
        "success": bool(success),
        "failing_rows": int(failing),
        "message": message,
        "description": description,
    }


def published_column(frame: pd.DataFrame, column: str) -> str:
    """The published column name, when the reader recorded it in attrs['source_columns']."""
    mapping = frame.attrs.get("source_columns")
    if isinstance(mapping, Mapping):
        return str(mapping.get(column) or column)
    return column


def as_text(values: pd.Series) -> pd.Series:
    """Values as the text a user would see; a missing value is an empty string, not 'nan' or 'NaT'."""
    obj = values.astype("object")
    return obj.where(obj.notna(), "").astype(str)


def quarantine_frame(
    extract: str,
    sub: pd.DataFrame,
    column: str,
    value: pd.Series,
    rule: str,
    severity: str,
    message: pd.Series | str,
) -> pd.DataFrame:
    n = len(sub)
    files = sub["_file"].astype(str).to_numpy() if "_file" in sub else [extract] * n
    practices = as_text(sub["practice_code"]).to_numpy() if "practice_code" in sub else [""] * n
    rows = (
        pd.to_numeric(sub["_row"], errors="coerce").astype("Int64").to_numpy()
        if "_row" in sub
        else pd.array([None] * n, dtype="Int64")
    )
    return pd.DataFrame(
        {
            "extract": extract,
            "file": files,
            "row": rows,
            "column": column,
            "value": pd.Series(value).astype(str).to_numpy(),
            "rule": rule,
            "severity": severity,
            "message": message.to_numpy() if isinstance(message, pd.Series) else message,
            "practice_code": practices,
        },
        index=pd.RangeIndex(n),
    )


def concat_quarantine(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if p is not None and not p.empty]
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})
        frame["row"] = frame["row"].astype("Int64")
        return frame
    frame = pd.concat(parts, ignore_index=True)
    frame["row"] = frame["row"].astype("Int64")
    return frame[QUARANTINE_COLUMNS]


# ----------------------------------------------------------------------------------------- CSV output


def kept_rows(quarantine: pd.DataFrame) -> pd.DataFrame:
    """The distinct input rows flagged by warning rules. Every one is kept in the calculation as read:
    a warning never removes or corrects a row (an error stops the run instead). A row flagged by two
    rules counts once; a flag without a row number (a whole-file finding) counts on its own."""
    flagged = quarantine[quarantine["severity"] == "warning"]
    numbered = flagged["row"].notna()
    distinct = flagged[numbered].drop_duplicates(["extract", "file", "row"])
    return pd.concat([distinct, flagged[~numbered]], ignore_index=True)


def _neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell that starts with a formula trigger prefixed by ' (vectorised)."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            continue
        text = out[col].astype("string")
        risky = text.str[:1].isin(_CSV_TRIGGERS).fillna(False).astype(bool)
        if risky.any():
            text = text.mask(risky, "'" + text)
        out[col] = text
    return out


def write_quarantine_csv(quarantine: pd.DataFrame, path: Path) -> Path:
    """quarantine.csv with every text cell neutralised against CSV injection."""
    _neutralised(quarantine).to_csv(path, index=False)
    return path


def write_results_csv(results: pd.DataFrame, path: Path) -> Path:
    _neutralised(results).to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------------------- cross-extract
