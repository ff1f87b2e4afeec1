"""Ingestion of complete export batches into the Parquet lake and the build warehouse, by stage:

  manifest.py    discover and plan: complete batch folders, their manifests
  verify.py      a file's bytes checked: sha256, gzip, UTF-8, bounded inflation
  read.py        read and type (1): a file's rows as text, whole or in chunks
  validate.py    the value rules: pandera contracts (models/), the first reason per row
  prepare.py     read and type (2): a whole batch read, checked and typed without the warehouse
  decide.py      the rules that need other rows: references, duplicates
  record.py      what a load writes: ops record, raw keys, lake files
  quarantine.py  refused rows with reasons and raw records; their release
  control.py     control totals three ways, and the lake against its record
  failures.py    the failure policy: input defect (reject, quarantine) or machine fault (fail the run)
  run.py         the entry point: ingest_all
"""

from pipelines.lib.ingest.control import backfill_lake_files, control_total_breaks, lake_breaks, rebuilt_input_breaks
from pipelines.lib.ingest.failures import REJECTION_REASONS, BatchRejected, MachineFault
from pipelines.lib.ingest.prepare import prepare_batch
from pipelines.lib.ingest.quarantine import release_quarantine
from pipelines.lib.ingest.record import OPS_TABLES, ensure_schema
from pipelines.lib.ingest.run import RunSummary, ingest_all, ingest_batch

__all__ = [
    "OPS_TABLES", "REJECTION_REASONS", "BatchRejected", "MachineFault", "RunSummary", "backfill_lake_files",
    "control_total_breaks", "ensure_schema", "ingest_all", "ingest_batch", "lake_breaks", "prepare_batch",
    "rebuilt_input_breaks",
    "release_quarantine",
]
