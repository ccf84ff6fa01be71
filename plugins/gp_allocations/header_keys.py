"""How a published header cell is compared with a layout's spellings.

``normalise`` (light: case, whitespace, footnote digits) and ``column_key`` (only the words: brackets
and punctuation dropped) are the two forms headers are matched on; ``resolve_aliases`` maps names to a
file's own header cells. docs/layouts.md ("How a header is matched") explains the rules.
"""

from __future__ import annotations

import re
from functools import lru_cache


def normalise(name: object) -> str:
    """A published header, lightly normalised: BOM stripped, whitespace and newlines collapsed,
    lower case, "(Last Known Figure)" and footnote digits glued to the end ("patients1") removed.

    Regular-expression aliases (``re:``) and ``header_values`` patterns are matched against this form,
    which keeps brackets and punctuation ("achievement score (635 max)").
    """
    text = str(name).replace("\ufeff", "").replace("\xa0", " ")
    text = re.sub(r"\s+", " ", text).strip().lower()
    text = re.sub(r"\s*\(last known figure\)", "", text)
    # a footnote marker is 1-2 digits glued to a letter or ")"; "AGE_GROUP_5" keeps its digit
    text = re.sub(r"(?<=[a-z)])\d{1,2}$", "", text)
    return text.strip()


def column_key(name: object) -> str:
    """The key headers are matched on: ``normalise`` without any parenthetical qualifier, then only
    letters and digits. "NHS England and NHS Improvement (Region, local office) Code",
    "Doctors.Retainer.Scheme.Payments", "PracticeRurality" and "PCN_CODE" all keep only their words."""
    text = normalise(name)
    text = re.sub(r"\([^()]*\)", " ", text)
    text = re.sub(r"\([^()]*\)", " ", text)  # one level of nesting: "(max (559))"
    return re.sub(r"[^a-z0-9]", "", text)


def display(name: object) -> str:
    """A published header as a user would type it: whitespace collapsed, case kept."""
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "")).strip()


def alias_matches(alias: str, col: str) -> bool:
    if alias.startswith("re:"):
        return re.search(alias[3:], normalise(col)) is not None
    return column_key(alias) == column_key(col)


@lru_cache(maxsize=4096)
def resolve_aliases(
    aliases: tuple[tuple[str, tuple[str, ...]], ...], file_columns: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    keys = [(column_key(c), normalise(c), c) for c in file_columns]
    taken: set[str] = set()
    found: list[tuple[str, str]] = []
    for name, spellings in aliases:
        hit = None
        for alias in spellings:
            if alias.startswith("re:"):
                pattern = re.compile(alias[3:])
                hits = [c for _, light, c in keys if pattern.search(light) and c not in taken]
            else:
                akey, alight = column_key(alias), normalise(alias)
                hits = [c for k, _, c in keys if k == akey and c not in taken]
                exact = [c for c in hits if normalise(c) == alight]
                hits = exact or hits
            if hits:
                hit = hits[0]
                break
        if hit is not None:
            taken.add(hit)
            found.append((name, hit))
    return tuple(found)
