"""Reading limits (``include/limits.yaml``): file and zip member sizes, expansion ratio, header width,
field length and the largest count and amount of money a cell may hold.

The defaults are versioned data, each with its reason; ``GP_ALLOC_LIMIT_<NAME>`` overrides one for a
deployment. Limits are looked up when a file is read, so a test or a deployment can tighten them.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import yaml

from . import config
from .errors import InputError


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_member_bytes: int
    max_expansion_ratio: int
    max_columns: int
    max_field_chars: int
    max_count: int
    max_money_pounds: int


@lru_cache(maxsize=4)
def _defaults(path: str) -> dict[str, int]:
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["limits"]
    return {name: int(entry["value"]) for name, entry in doc.items()}


def limits() -> Limits:
    """The limits in force: include/limits.yaml, each overridable by ``GP_ALLOC_LIMIT_<NAME>``."""
    values = dict(_defaults(str(config.include_dir() / "limits.yaml")))
    for f in fields(Limits):
        env = f"GP_ALLOC_LIMIT_{f.name.upper()}"
        text = os.environ.get(env, "").strip()
        if text:
            if not text.isascii() or not text.isdigit() or int(text) <= 0:
                raise InputError(f"{env}={text!r} is not a whole number above 0", column=env, rule="settings")
            values[f.name] = int(text)
    return Limits(**values)


def _size(n: int) -> str:
    return f"{n:,} bytes"


def check_file_size(size: int, file: str) -> None:
    """A file (as pulled, or as read) is at most ``max_file_bytes``."""
    top = limits().max_file_bytes
    if size > top:
        raise InputError(
            f"file is {_size(size)}, more than the {_size(top)} a file may be (limit max_file_bytes)",
            file=file,
            rule="limit:file-bytes",
        )


def read_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, file: str) -> bytes:
    """A zip member's bytes, refused as soon as it passes ``max_member_bytes`` or expands more than
    ``max_expansion_ratio`` times its compressed size (counted while reading: declared sizes can lie)."""
    got = limits()
    cap = min(got.max_member_bytes, max(member.compress_size, 1) * got.max_expansion_ratio)
    if member.file_size > cap:
        raise member_error(member, file, member.file_size, got)
    parts: list[bytes] = []
    size = 0
    with zf.open(member) as stream:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > cap:
                raise member_error(member, file, size, got)
            parts.append(chunk)
    return b"".join(parts)


def check_workbook(raw: bytes, file: str) -> None:
    """An xlsx workbook is a zip: every part's declared size is within the member limits (the zip reader
    never returns more than a part declares, so the declared sizes bound what openpyxl unpacks)."""
    got = limits()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            for member in zf.infolist():
                cap = min(got.max_member_bytes, max(member.compress_size, 1) * got.max_expansion_ratio)
                if member.file_size > cap:
                    raise member_error(member, file, member.file_size, got)
    except zipfile.BadZipFile:
        raise InputError(
            "not a readable xlsx workbook (it is not a zip archive)", file=file, rule="file:xlsx"
        ) from None


def member_error(member: zipfile.ZipInfo, file: str, size: int, got: Limits) -> InputError:
    """The error for a member found to uncompress to ``size`` bytes, past a limit."""
    what = "at least " if size != member.file_size else ""
    if size > got.max_member_bytes:
        return InputError(
            f"zip member {member.filename!r} uncompresses to {what}{_size(size)}, more than the "
            f"{_size(got.max_member_bytes)} a member may be (limit max_member_bytes)",
            file=file,
            rule="limit:member-bytes",
        )
    return InputError(
        f"zip member {member.filename!r} uncompresses to {what}{_size(size)} from "
        f"{_size(member.compress_size)}, more than {got.max_expansion_ratio} times its compressed size "
        "(limit max_expansion_ratio): it looks like a zip bomb",
        file=file,
        rule="limit:expansion-ratio",
    )


def check_header(header: list[str], file: str) -> None:
    """A header has at most ``max_columns`` cells, each at most ``max_field_chars`` long."""
    got = limits()
    if len(header) > got.max_columns:
        raise InputError(
            f"the header has {len(header):,} columns, more than the {got.max_columns:,} a file may have "
            "(limit max_columns)",
            file=file,
            row=1,
            rule="limit:columns",
        )
    for i, cell in enumerate(header, 1):
        if len(cell) > got.max_field_chars:
            raise InputError(
                f"header cell {i} is {len(cell):,} characters long, more than the {got.max_field_chars:,} a "
                "cell may hold (limit max_field_chars)",
                file=file,
                row=1,
                rule="limit:field-chars",
            )


def header_prefix_bytes() -> int:
    """How much of a file the header may take: every cell at its longest, quoted, with a delimiter."""
    got = limits()
    return got.max_columns * (got.max_field_chars + 3) + 2
