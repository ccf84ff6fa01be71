"""Pull: copy each extract's raw bytes, unchanged, from its configured location into the run's raw area.

A location is a local folder or any fsspec URI (``https://``, ``s3://``, ``sftp://`` ...), either a
folder to search with the extract's published file-name patterns or one file. Zip archives found in
a folder are searched too and the matching member is copied out (``zip://member::archive``).
Each copy records SHA-256, size, source and fetch time in ``raw/pull.json``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import fsspec

from .config import RunContext, safe_name
from .errors import InputError
from .extracts import EXTRACT_ALTERNATIVES, EXTRACTS, NIGHTLY_EXTRACTS

_CHUNK = 1 << 20
_FILE_SUFFIXES = (".csv", ".txt", ".zip", ".xlsx")


@dataclass(frozen=True)
class PulledFile:
    extract: str
    file: str  # path relative to the run's raw area
    source: str
    sha256: str
    bytes: int
    fetched_at: str


def _copy_stream(stream, target: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "wb") as out:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    tmp.replace(target)
    return digest.hexdigest(), size


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name.lower(), p.lower()) for p in patterns)


def _first_pattern_matches(names: list[str], patterns: tuple[str, ...], many: bool) -> list[str]:
    # Patterns are in order of preference; the first one that matches anything wins.
    for pattern in patterns:
        hits = sorted(n for n in names if fnmatch.fnmatch(PurePosixPath(n).name.lower(), pattern.lower()))
        if hits:
            return hits if many else hits[:1]
    return []


def locate(extract: str, location: str) -> list[str]:
    """URIs of the files for ``extract`` at ``location`` (a file URI, a folder, or a zip member)."""
    spec = EXTRACTS[extract]
    if "::" in location or location.lower().endswith(_FILE_SUFFIXES):
        return [location]
    fs, root = fsspec.core.url_to_fs(location)
    if not fs.exists(root):
        raise InputError(
            f"extract location {location} does not exist", file=location, rule="extract_location_exists"
        )
    entries = [e for e in fs.ls(root, detail=False) if not PurePosixPath(e).name.startswith(".")]
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if protocol in ("file", "local") else f"{protocol}://"
    found = _first_pattern_matches(entries, spec.file_patterns, spec.many_files)
    if found:
        return [prefix + f for f in found]
    # Published downloads are often zips: look inside them for a member with the published name.
    for archive in sorted(e for e in entries if e.lower().endswith(".zip")):
        try:
            with fs.open(archive, "rb") as fh, zipfile.ZipFile(fh) as zf:
                members = [m for m in zf.namelist() if not m.endswith("/")]
        except zipfile.BadZipFile as exc:
            name = PurePosixPath(archive).name
            raise InputError(f"not a readable zip file ({exc})", file=name, rule="file:zip") from exc
        hits = _first_pattern_matches(members, spec.file_patterns, spec.many_files)
        if hits:
            return [f"zip://{m}::{prefix}{archive}" for m in hits]
    return []


def pull_extract(
    extract: str, location: str, raw_dir: Path, *, required: bool | None = None
) -> list[PulledFile]:
    """Copy one extract's files into ``raw_dir/<extract>/``; an absent required extract is an error.

    ``required`` overrides the extract's own flag (pull_all passes False when an alternative exists).
    """
    uris = locate(extract, location)
    spec = EXTRACTS[extract]
    if not uris:
        if spec.required if required is None else required:
            raise InputError(
                f"no file for extract '{extract}' at {location} (looked for {', '.join(spec.file_patterns)})",
                file=location,
                rule="extract_present",
            )
        return []
    target_dir = raw_dir / extract
    target_dir.mkdir(parents=True, exist_ok=True)
    pulled = []
    for uri in uris:
        name = safe_name(PurePosixPath(uri.split("::")[0].split("://")[-1]).name)
        try:
            with fsspec.open(uri, "rb") as stream:
                sha, size = _copy_stream(stream, target_dir / name)
        except FileNotFoundError as exc:
            raise InputError(f"file not found: {uri}", file=uri, rule="extract_present") from exc
        pulled.append(
            PulledFile(
                extract=extract,
                file=f"{extract}/{name}",
                source=uri,
                sha256=sha,
                bytes=size,
                fetched_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
        )
    return pulled


def pull_all(ctx: RunContext, extracts: list[str] | None = None) -> list[PulledFile]:
    """Pull every extract of the run into its raw area and write ``raw/pull.json``."""
    names = list(extracts or ctx.extracts or NIGHTLY_EXTRACTS)
    unknown = sorted(set(names) - set(EXTRACTS))
    if unknown:
        raise InputError(f"unknown extract(s) {unknown}; known: {sorted(EXTRACTS)}", rule="known_extract")
    ctx.raw_dir.mkdir(parents=True, exist_ok=True)
    records: list[PulledFile] = []
    absent: list[str] = []
    for name in names:
        alternatives = [a for a in EXTRACT_ALTERNATIVES.get(name, ()) if a in names]
        got = pull_extract(name, ctx.source_of(name), ctx.raw_dir, required=False if alternatives else None)
        if not got and alternatives:
            absent.append(name)
        records.extend(got)
    pulled = {r.extract for r in records}
    for name in absent:
        # a required extract with alternatives: absent is fine only when an alternative was pulled
        alternatives = EXTRACT_ALTERNATIVES[name]
        if EXTRACTS[name].required and not pulled.intersection(alternatives):
            raise InputError(
                f"no file for extract '{name}' at {ctx.source_of(name)} (looked for "
                f"{', '.join(EXTRACTS[name].file_patterns)}) and no alternative ({', '.join(alternatives)})",
                file=ctx.source_of(name),
                rule="extract_present",
            )
    write_pull_records(ctx.raw_dir, records)
    return records


def write_pull_records(raw_dir: Path, records: list[PulledFile]) -> None:
    path = raw_dir / "pull.json"
    path.write_text(json.dumps([asdict(r) for r in records], indent=2, sort_keys=True))


def read_pull_records(raw_dir: Path) -> list[PulledFile]:
    path = raw_dir / "pull.json"
    return [PulledFile(**r) for r in json.loads(path.read_text())]
