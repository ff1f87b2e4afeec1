"""Discover and plan: complete batch folders on disk and their manifests (oltp-export-v1).

A manifest failure rejects the whole batch: `BatchRejected` carries the closed-list reason recorded
in ops.ingested_batches. Nothing here touches the warehouse or reads a data file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models import TABLES
from pipelines.lib.ingest.failures import BatchRejected, MachineFault

# \Z, not $: a batch id with a trailing newline does not match (v1.1)
BATCH_ID_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9]{6}\Z")
CONTRACT = "platform-oltp-export"
SUPPORTED_VERSION = 1
FORMATS = {"csv", "jsonl", "parquet"}
COMPRESSIONS = {"none", "gzip"}
FUTURE_TOLERANCE = timedelta(minutes=5)  # exported_at later than the wall clock plus this: rejected


@dataclass(frozen=True)
class ManifestFile:
    table: str
    path: str
    format: str
    compression: str
    row_count: int
    sha256: str


@dataclass(frozen=True)
class Batch:
    batch_id: str
    directory: Path
    manifest_sha256: str
    exported_at: datetime | None = None
    files: tuple[ManifestFile, ...] = ()

    @property
    def content(self) -> list[tuple[str, str]]:
        """What the batch holds, whatever its manifest's formatting: (table, sha256) of each file."""
        return sorted((f.table, f.sha256) for f in self.files)


def discover(exports_dir: Path) -> list[Path]:
    """Complete batch folders (manifest written, the exporter writes it last), in export order.

    A folder without manifest.json is still being written: it is left alone and holds nothing back.
    Folders whose name is off the batch-id pattern are returned too, so they are rejected with a
    reason instead of being silently ignored. A symlink is not a batch folder (v1.1), wherever it
    points. An exports root or folder this process may not read is a fault of the machine.
    """
    try:
        if not exports_dir.is_dir():
            return []
        found = []
        for p in exports_dir.iterdir():
            mode = p.lstat().st_mode
            if stat.S_ISDIR(mode) and (p / "manifest.json").is_file():
                found.append(p)
        return sorted(found)
    except OSError as exc:
        where = getattr(exc, "filename", None) or exports_dir
        raise MachineFault("(discovery)", str(where), exc) from exc


def complete_batches(exports_dir: Path) -> dict[str, str]:
    """{batch folder name: sha256 of its manifest} for every complete batch: what a sensor compares
    between ticks, without opening the warehouse (a writer may hold it)."""
    return {d.name: manifest_hash(d) for d in discover(exports_dir)}


def manifest_hash(batch_dir: Path) -> str:
    try:
        return hashlib.sha256((batch_dir / "manifest.json").read_bytes()).hexdigest()
    except OSError as exc:
        raise MachineFault(batch_dir.name, "manifest.json", exc) from exc


def delivery_stamp(batch_dir: Path) -> str:
    """What a batch folder holds, by name, type, size, inode and modification time of every entry
    (no byte read): a rejected batch whose stamp is unchanged would be rejected again for the same
    reason, so a run may skip reading it (pipelines/lib/noop.py). Taken before the batch is read."""
    h = hashlib.sha256()
    try:
        for root, dirs, files in os.walk(batch_dir, followlinks=False):
            dirs.sort()
            for name in sorted([*dirs, *files]):
                st = os.lstat(os.path.join(root, name))
                h.update(repr((os.path.relpath(os.path.join(root, name), batch_dir), st.st_mode, st.st_size,
                               st.st_ino, st.st_mtime_ns)).encode())
    except OSError as exc:
        raise MachineFault(batch_dir.name, getattr(exc, "filename", None) or str(batch_dir), exc) from exc
    return h.hexdigest()


def batch_time(batch_id: str) -> datetime:
    """The export time a batch id starts with."""
    return datetime.strptime(batch_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _parse_time(text: object) -> datetime:
    if not isinstance(text, str) or not text.isascii() or not re.search(r"(Z|[+-][0-9]{2}:?[0-9]{2})\Z", text):
        raise BatchRejected("manifest_invalid", f"exported_at {text!r} is not an ISO 8601 timestamp with a zone")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise BatchRejected("manifest_invalid", f"exported_at {text!r} is not a timestamp") from exc


def is_safe_path(path: object) -> bool:
    return (
        isinstance(path, str) and path not in ("", ".", "..") and "/" not in path and "\\" not in path
        and ".." not in path and "\x00" not in path
    )


def _is_json_int(value: object) -> bool:
    return type(value) is int  # noqa: E721 -- not a bool (true == 1), not a float (1.0 == 1)


def read_manifest(batch_dir: Path, now: datetime | None = None) -> Batch:
    """Parse and check a manifest; raises BatchRejected with the reason on any failure that can be
    seen without reading the data files (those are checked by `verify.verify_file`)."""
    digest = manifest_hash(batch_dir)
    batch_id = batch_dir.name
    if not BATCH_ID_RE.match(batch_id):
        raise BatchRejected("manifest_invalid",
                            f"batch id {batch_id!r} does not match the pattern YYYYMMDDTHHMMSSZ-NNNNNN")
    if (batch_dir / "manifest.json").is_symlink():
        raise BatchRejected("unsafe_path", "manifest.json is a symbolic link")
    try:
        doc = json.loads((batch_dir / "manifest.json").read_bytes().decode("utf-8"))
    except OSError as exc:
        raise MachineFault(batch_id, "manifest.json", exc) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BatchRejected("manifest_invalid", f"manifest.json is not valid UTF-8 JSON: {str(exc)[:200]}") from exc
    if not isinstance(doc, dict):
        raise BatchRejected("manifest_invalid", "manifest.json is not a JSON object")
    if doc.get("contract") != CONTRACT:
        raise BatchRejected("manifest_invalid", f"unknown contract {doc.get('contract')!r}")
    version = doc.get("contract_version")
    if not (_is_json_int(version) and version == SUPPORTED_VERSION):
        raise BatchRejected("contract_version", f"unknown contract_version {version!r}")
    if doc.get("batch_id") != batch_id:
        raise BatchRejected("manifest_invalid",
                            f"manifest batch_id {doc.get('batch_id')!r} differs from its folder {batch_id!r}")
    exported_at = _parse_time(doc.get("exported_at"))
    if exported_at.replace(microsecond=0) != batch_time(batch_id):
        raise BatchRejected("manifest_invalid", f"exported_at {doc.get('exported_at')} is not the time in the batch id")
    now = now or datetime.now(UTC)
    if exported_at > now + FUTURE_TOLERANCE:
        # not the clock's reading: the recorded reason is the same on every run until it loads
        # (a new reason each run would be a new ingestion record, and a rebuild)
        raise BatchRejected("exported_in_future", f"exported_at {doc.get('exported_at')} is later than this "
                            f"machine's clock plus {FUTURE_TOLERANCE}")
    entries = doc.get("files")
    if not isinstance(entries, list):
        raise BatchRejected("manifest_invalid", "manifest has no files list")
    files, seen_tables, seen_paths = [], set(), set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise BatchRejected("manifest_invalid", "a manifest files entry is not an object")
        table, path = entry.get("table"), entry.get("path")
        if not isinstance(table, str) or table not in TABLES:
            raise BatchRejected("unknown_table", f"unknown table {table!r}")
        if table in seen_tables:
            raise BatchRejected("manifest_invalid", f"table {table!r} is listed twice")
        if not is_safe_path(path):
            raise BatchRejected("unsafe_path", f"unsafe path {path!r} for table {table}")
        if not _holdable_name(path):
            # v1.2: a name no file system here can hold names no file the batch can have
            raise BatchRejected("missing_file", f"listed file {_shown(path)} cannot exist: a file name is at most "
                                f"{MAX_NAME_BYTES} bytes of valid text")
        if path in seen_paths or path == "manifest.json":
            raise BatchRejected("manifest_invalid", f"path {path!r} is listed twice or names the manifest")
        fmt, comp = entry.get("format"), entry.get("compression", "none")
        if not isinstance(fmt, str) or fmt not in FORMATS:
            raise BatchRejected("manifest_invalid", f"unknown format {fmt!r} for {path}")
        if not isinstance(comp, str) or comp not in COMPRESSIONS or (fmt == "parquet" and comp != "none"):
            raise BatchRejected("manifest_invalid", f"unsupported compression {comp!r} for {fmt} file {path}")
        row_count, sha = entry.get("row_count"), entry.get("sha256")
        if not _is_json_int(row_count) or row_count < 0:
            raise BatchRejected("manifest_invalid", f"row_count {row_count!r} of {path} is not a non-negative integer")
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha):
            raise BatchRejected("manifest_invalid", f"sha256 {sha!r} of {path} is not a hex SHA-256")
        seen_tables.add(table)
        seen_paths.add(path)
        files.append(ManifestFile(table, path, fmt, comp, row_count, sha.lower()))
    return Batch(batch_id, batch_dir, digest, exported_at, tuple(files))


MAX_NAME_BYTES = 255  # a file name's bytes on every Linux file system (NAME_MAX)


def _shown(path: str) -> str:
    return repr(path[:60]) + ("..." if len(path) > 60 else "")


def _holdable_name(path: str) -> bool:
    try:
        return len(path.encode("utf-8")) <= MAX_NAME_BYTES
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape: no file is named so
        return False


def open_listed(batch: Batch, f: ManifestFile):
    """The listed file, opened for reading as a plain file inside the batch folder: a symlink or
    anything but a regular file is an unsafe path (v1.1), a missing one a missing file."""
    path = batch.directory / f.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise BatchRejected("missing_file", f"listed file {f.path} is missing") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component is a symlink
            raise BatchRejected("unsafe_path", f"listed file {f.path} is a symbolic link") from None
        if exc.errno in (errno.ENAMETOOLONG, errno.EILSEQ):  # this file system cannot hold the name
            raise BatchRejected("missing_file", f"listed file {_shown(f.path)} cannot exist here: {exc.strerror}") \
                from None
        raise MachineFault(batch.batch_id, f.path, exc) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BatchRejected("unsafe_path", f"listed file {f.path} is not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")
