"""Pull: copy each extract's raw bytes, unchanged, from its configured location into the run's raw area.

A location is a local folder or any fsspec URI (``https://``, ``s3://``, ``sftp://`` ...), either a
folder to search with the extract's published file-name patterns or one file. Zip archives found in
a folder are searched too and the matching member is copied out (``zip://member::archive``).
Each copy records SHA-256, size, source and fetch time in ``raw/pull.json``.

A local source must be a regular file inside its source folder (the configured location, or the folder of
a configured file; ``GP_ALLOC_SOURCE_ROOT``, when set, is one folder every local location must be in): a
symbolic link that leads outside it (to ``/dev/zero``, to a secrets file) is refused, and so is anything
that is not a regular file. Every copy stops at the reading limits (``include/limits.yaml``): bytes per
file, and for a zip member its uncompressed bytes and expansion ratio, counted while copying.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import fsspec

from . import limits
from .config import RunContext, safe_name
from .errors import InputError
from .extracts import EXTRACT_ALTERNATIVES, EXTRACTS, NIGHTLY_EXTRACTS, ExtractSpec, check_one_file

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


def _copy_stream(
    stream: IO[bytes], target: Path, cap: int, too_big: Callable[[int], Exception]
) -> tuple[str, int]:
    """Copy ``stream`` to ``target`` via a .part file; past ``cap`` bytes remove it, raise ``too_big(n)``."""
    digest = hashlib.sha256()
    size = 0
    tmp = target.with_name(target.name + ".part")
    try:
        with open(tmp, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > cap:
                    raise too_big(size)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    return digest.hexdigest(), size


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def source_root(location: str) -> Path:
    """The folder a local location's files must be in: ``GP_ALLOC_SOURCE_ROOT`` if set, else the
    location itself (a folder) or the folder holding it (a file, or a zip member's archive)."""
    configured = os.environ.get("GP_ALLOC_SOURCE_ROOT", "").strip()
    if configured:
        return Path(configured)
    path = _local_path(location.split("::")[-1])
    return path if path.is_dir() else path.parent


def check_inside(uri: str, location: str) -> None:
    """A local source is a regular file inside its source root, after following every symbolic link."""
    if not _is_local(uri):
        return
    path = _local_path(uri)
    name = path.name
    root = os.path.realpath(source_root(location))
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        # the target is not shown: where a link leads is not a value from the file, and may be private
        how = "is a symbolic link that leads" if path.is_symlink() else "is"
        raise InputError(
            f"the source {how} outside the source folder {root}: refused (a source must be a regular file "
            "inside its source folder)",
            file=name,
            rule="source:outside-root",
        )
    try:
        mode = os.stat(real).st_mode
    except OSError:
        raise InputError("file not found", file=name, rule="extract_present") from None
    if not stat.S_ISREG(mode):
        raise InputError(
            "the source is not a regular file (it is a device, a folder or a named pipe): refused",
            file=name,
            rule="source:not-a-file",
        )


def _too_big_file(name: str) -> Callable[[int], InputError]:
    return lambda size: InputError(
        f"file is at least {size:,} bytes, more than the {limits.limits().max_file_bytes:,} a file may be "
        "(limit max_file_bytes)",
        file=name,
        rule="limit:file-bytes",
    )


def _copy(uri: str, target: Path, name: str) -> tuple[str, int]:
    """Copy one source (a file, or ``zip://member::archive``) within the reading limits."""
    got = limits.limits()
    if uri.startswith("zip://") and "::" in uri:
        member, archive = uri.removeprefix("zip://").split("::", 1)
        with fsspec.open(archive, "rb") as fh, zipfile.ZipFile(fh) as zf:
            info = zf.getinfo(member)
            cap = min(got.max_member_bytes, max(info.compress_size, 1) * got.max_expansion_ratio)
            archive_name = PurePosixPath(archive.split("://")[-1]).name

            def too_big(size: int) -> InputError:
                return limits.member_error(info, archive_name, size, got)

            if info.file_size > cap:
                raise too_big(info.file_size)
            with zf.open(info) as stream:
                return _copy_stream(stream, target, cap, too_big)
    with fsspec.open(uri, "rb") as stream:
        return _copy_stream(stream, target, got.max_file_bytes, _too_big_file(name))


def _first_pattern_matches(names: list[str], spec: ExtractSpec, where: str) -> list[str]:
    """The names the first matching pattern finds (patterns are in order of preference, "a|b": either);
    an extract of one file matched twice is an error (``check_one_file``)."""
    for pattern in spec.file_patterns:
        alternatives = pattern.lower().split("|")
        hits = sorted(
            n for n in names if any(fnmatch.fnmatch(PurePosixPath(n).name.lower(), a) for a in alternatives)
        )
        check_one_file(spec.name, [PurePosixPath(n).name for n in hits], where, f"match {pattern}")
        if hits:
            return hits
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
    found = _first_pattern_matches(entries, spec, location)
    if found:
        return [prefix + f for f in found]
    # Published downloads are often zips: look inside them for a member with the published name.
    for archive in sorted(e for e in entries if e.lower().endswith(".zip")):
        check_inside(prefix + archive, location)
        try:
            with fs.open(archive, "rb") as fh, zipfile.ZipFile(fh) as zf:
                members = [m for m in zf.namelist() if not m.endswith("/")]
        except zipfile.BadZipFile as exc:
            name = PurePosixPath(archive).name
            raise InputError(f"not a readable zip file ({exc})", file=name, rule="file:zip") from exc
        hits = _first_pattern_matches(members, spec, PurePosixPath(archive).name)
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
        check_inside(uri.split("::")[-1], location)
        try:
            sha, size = _copy(uri, target_dir / name, name)
        except FileNotFoundError as exc:
            raise InputError(f"file not found: {uri}", file=uri, rule="extract_present") from exc
        except (zipfile.BadZipFile, KeyError, IsADirectoryError, PermissionError) as exc:
            raise InputError(
                f"the source cannot be read ({type(exc).__name__})", file=name, rule="file:unreadable"
            ) from None
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
        others = EXTRACT_ALTERNATIVES[name]
        if EXTRACTS[name].required and not pulled.intersection(others):
            raise InputError(
                f"no file for extract '{name}' at {ctx.source_of(name)} (looked for "
                f"{', '.join(EXTRACTS[name].file_patterns)}) and no alternative ({', '.join(others)})",
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
