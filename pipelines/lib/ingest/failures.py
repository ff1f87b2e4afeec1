"""The failure policy of ingestion, in one place: every failure while reading a batch is either an
input defect or a fault of this machine, never left unclassified.

- An input defect is the exporter's: the batch is rejected (`BatchRejected`, a closed-list reason
  naming the file, recorded in ops.ingested_batches and checked again on every later run) or a row
  is quarantined; later batches go on.
- A machine fault is ours (disk full, permission denied, out of memory, our own I/O): `MachineFault`
  fails the run with a message naming the batch, the file and the cause, and nothing is recorded
  about that batch, so the next run, once the fault is gone, loads it as if nothing had happened.
- Anything else raised while reading a file is unexpected: it rejects that batch as
  `unreadable_file` with the exception in the recorded detail (a rejected batch is tried again on
  every run, so a bug fixed later loses nothing).
"""

from __future__ import annotations

import errno

import duckdb

# oltp-export-v1, Clarifications (v1.1): the closed list of batch rejection reasons. The recorded
# reason starts with one of these words, then the detail.
REJECTION_REASONS = (
    "contract_version", "manifest_invalid", "missing_file", "sha256_mismatch", "row_count_mismatch",
    "unknown_table", "unsafe_path", "unreadable_file", "bad_header", "decompression_limit",
    "exported_in_future", "conflicting_redelivery",
)


class BatchRejected(Exception):
    """An input defect of a whole file or manifest: the batch loads nothing, the reason is recorded."""

    def __init__(self, reason: str, detail: str):
        assert reason in REJECTION_REASONS, reason
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


class MachineFault(RuntimeError):
    """A fault of this machine while ingesting a batch: the run fails, the batch is not recorded."""

    def __init__(self, batch_id: str, file: str | None, cause: BaseException | str, *, disk_space: bool = False):
        self.batch_id, self.file, self.disk_space = batch_id, file, disk_space
        what = f"batch {batch_id}" + (f", file {file}" if file else "")
        cause_text = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"{what}: {cause_text}. This machine's fault, not the export's: nothing of the batch "
                         "was recorded, and the next run loads it once the fault is gone")


# errno values that say the machine, not the bytes delivered, is at fault. Any other OSError that
# carries an errno is treated the same way: an I/O error is never the exporter's verdict.
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO,
                   errno.ENOMEM, errno.EMFILE, errno.ENFILE}


def is_machine_fault(exc: BaseException) -> bool:
    if isinstance(exc, (MemoryError, duckdb.OutOfMemoryException, duckdb.IOException)):
        return True
    if isinstance(exc, OSError) and exc.errno is not None:
        return True  # disk full, permission denied, our own I/O (see _MACHINE_ERRNOS)
    return False


def classify(exc: BaseException, batch_id: str, file: str | None) -> BaseException:
    """The exception to act on for `exc`, raised while reading `file` of `batch_id`."""
    if isinstance(exc, (BatchRejected, MachineFault)):
        return exc
    if is_machine_fault(exc):
        return MachineFault(batch_id, file, exc, disk_space=getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT))
    where = f"{file}: " if file else ""
    return BatchRejected("unreadable_file", f"{where}unexpected {type(exc).__name__}: {str(exc)[:500]}")
