"""A listed file's bytes checked before any row is read: sha256, a whole gzip stream within the
inflation limit (oltp-export-v1 v1.1, `decompression_limit`), UTF-8 text, and the free space kept
while an inflated copy is written."""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import os
import shutil
import zlib
from pathlib import Path

from isal import igzip, isal_zlib

from pipelines.lib.config import Settings
from pipelines.lib.ingest.failures import BatchRejected
from pipelines.lib.ingest.manifest import Batch, ManifestFile, open_listed

BLOCK = 1 << 20
FREE_CHECK_EVERY = 64  # blocks inflated between two looks at the free space


def inflation_limit(settings: Settings, compressed_bytes: int) -> int:
    """The most a gzip file of `compressed_bytes` may inflate to (Settings: gzip_max_*)."""
    ratio_cap = max(settings.gzip_max_ratio * compressed_bytes, settings.gzip_ratio_floor_bytes)
    return min(settings.gzip_max_bytes, ratio_cap)


def verify_file(batch: Batch, f: ManifestFile, settings: Settings, scratch: Path | None = None) -> tuple[Path, str]:
    """A listed file's existence (a plain file, no symlink), sha256, and readability of its bytes
    (gzip stream whole and within the inflation limit, text is UTF-8).

    Returns the path to read the rows from and its compression. With `scratch` (a directory), a
    gzipped text file's bytes, inflated here to be checked anyway, are kept there uncompressed
    (`.inflated.<batch>.<hash of the file name>.<pid>.tmp`, the caller removes it): the reader then does not
    inflate the stream a second time.
    OSErrors of this machine (disk full, permission denied) propagate as they are: the caller
    classifies them (failures.classify) as faults, never as the export's verdict."""
    path = batch.directory / f.path
    digest, tail = hashlib.sha256(), b""
    with open_listed(batch, f) as fh:
        compressed = os.fstat(fh.fileno()).st_size
        for block in iter(lambda: fh.read(BLOCK), b""):
            digest.update(block)
            tail = (tail + block)[-4:]
    if digest.hexdigest() != f.sha256:
        raise BatchRejected("sha256_mismatch", f"sha256 of {f.path} does not match the manifest")
    if f.format == "parquet":
        return path, f.compression
    gzipped = f.compression == "gzip"
    keep = scratch is not None and gzipped
    limit = inflation_limit(settings, compressed) if gzipped else None
    # named by a hash of the listed name: a legal 255-byte name plus our affixes would not fit (v1.2)
    inflated = scratch / f".inflated.{batch.batch_id}.{_name_hash(f.path)}.{os.getpid()}.tmp" if keep else None
    if keep:
        # the trailer's ISIZE (the size modulo 2^32, the exporter's word only), capped at the limit
        _check_free_space(settings, scratch, min(int.from_bytes(tail, "little"), limit), f)
    decoder = _utf8_decoder()
    size = 0
    try:
        with open_listed(batch, f) as raw, (igzip.open(raw, "rb") if gzipped else contextlib.nullcontext(raw)) as src, \
                (open(inflated, "wb") if keep else contextlib.nullcontext()) as out:
            for n, block in enumerate(iter(lambda: _inflate_block(src, f), b"")):
                size += len(block)
                if limit is not None and size > limit:
                    raise BatchRejected("decompression_limit", f"{f.path} inflates past {limit:,} bytes "
                                        f"({compressed:,} compressed; the warehouse's limit: ANALYTICS_GZIP_MAX_BYTES, "
                                        f"ANALYTICS_GZIP_MAX_RATIO)")
                decoder.decode(block)
                if out:
                    if n % FREE_CHECK_EVERY == FREE_CHECK_EVERY - 1:
                        _check_free_space(settings, scratch, 0, f)
                    out.write(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        _remove(inflated)
        raise BatchRejected("unreadable_file", f"{f.path} is not UTF-8: {exc}") from exc
    except BaseException:
        _remove(inflated)
        raise
    return (inflated, "none") if keep else (path, f.compression)


def _name_hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _inflate_block(src, f: ManifestFile) -> bytes:
    """The next block of a file's bytes, inflated; a damaged stream is the export's defect (an
    OSError without an errno: gzip's BadGzipFile), an OSError with one is this machine's."""
    try:
        return src.read(BLOCK)
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise BatchRejected("unreadable_file", f"{f.path} is not a readable gzip file: {exc}") from exc
    except (EOFError, zlib.error, isal_zlib.error) as exc:
        raise BatchRejected("unreadable_file", f"{f.path} is not a readable gzip file: {exc}") from exc


def _check_free_space(settings: Settings, directory: Path, needed: int, f: ManifestFile) -> None:
    free = shutil.disk_usage(directory).free
    if free - needed < settings.min_free_bytes:
        raise OSError(errno.ENOSPC, f"inflating {f.path} ({needed:,} bytes announced) would leave less than "
                      f"{settings.min_free_bytes:,} bytes free in {directory} ({free:,} free; "
                      "ANALYTICS_MIN_FREE_BYTES)")


def _remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _utf8_decoder():
    return codecs.getincrementaldecoder("utf-8")(errors="strict")
