"""Is the published warehouse already built from exactly these inputs? The no-op run's shortcut.

A run whose ingestion loaded, rejected, released or recorded nothing new, on unchanged code and
configuration, would rebuild the marts, reports and published file byte for byte (every model and
report is a function of the loaded data, never of the wall clock). So the build steps skip when
the fingerprint of their inputs equals the one recorded by the last successful publish:

- the fingerprint hashes the ingestion record (every batch's id, status, manifest hash and reason,
  quarantine and release counts, conflicting re-deliveries) and every code and configuration file
  the build reads (dbt models and macros, contracts, pipelines/, the report configuration);
- `warehouse/build_state.json` holds it; the dbt step deletes the file before it changes the build
  warehouse, and the publish step writes it (atomically) after the new file is in place. A run that
  dies in between leaves no file, so the next run rebuilds everything.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pipelines.lib.config import PROJECT_ROOT, Settings

# What the build reads besides the loaded data. target/ and logs are dbt's output, not its input.
CODE_ROOTS = ("pipelines", "models", "dbt_project/models", "dbt_project/macros", "dbt_project/tests")
CODE_FILES = ("dbt_project/dbt_project.yml", "dbt_project/profiles.yml")
CODE_SUFFIXES = {".py", ".sql", ".yml", ".yaml", ".html", ".j2", ".jinja", ".css", ".json", ".md"}

INGESTION_RECORD = (
    "select batch_id, status, manifest_sha256, coalesce(reason, '') from ops.ingested_batches order by all",
    "select count(*), count(released_at) from ops.quarantine",
    "select count(*) from ops.batch_conflicts",
)


def _state_file(settings: Settings) -> Path:
    return settings.warehouse_dir / "build_state.json"


def _code_files(settings: Settings) -> list[Path]:
    files = [PROJECT_ROOT / f for f in CODE_FILES]
    for root in CODE_ROOTS:
        files += [p for p in (PROJECT_ROOT / root).rglob("*")
                  if p.is_file() and p.suffix in CODE_SUFFIXES and "__pycache__" not in p.parts]
    config_dir = os.environ.get("ANALYTICS_CONFIG_DIR")
    if config_dir:
        files += [p for p in Path(config_dir).rglob("*") if p.is_file()]
    return sorted(set(files))


def code_fingerprint(settings: Settings, engine: bool = True) -> str:
    """Hash of the engine (unless `engine` is false) and of the code and configuration files a build
    reads, names and contents."""
    # the same code builds differently elsewhere
    h = hashlib.sha256(f"engine {settings.engine}\n".encode() if engine else b"")
    for path in _code_files(settings):
        h.update(str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path).encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def fingerprint(con, settings: Settings) -> str:
    """Hash of everything a build reads: the ingestion record and the code and configuration."""
    h = hashlib.sha256()
    for sql in INGESTION_RECORD:
        h.update(repr(con.execute(sql).fetchall()).encode())
    h.update(code_fingerprint(settings).encode())
    return h.hexdigest()


def is_current(con, settings: Settings) -> bool:
    """True when the last publish recorded this very fingerprint and its file is still there."""
    state = _state_file(settings)
    if not state.exists() or not settings.published_db.exists():
        return False
    try:
        recorded = json.loads(state.read_text())["fingerprint"]
    except (ValueError, KeyError):
        return False
    return recorded == fingerprint(con, settings)


def invalidate(settings: Settings) -> None:
    """Before the build warehouse changes: until the next publish, nothing is current."""
    _state_file(settings).unlink(missing_ok=True)


def record(con, settings: Settings) -> None:
    """After a publish: the published file is built from these inputs."""
    state = _state_file(settings)
    tmp = state.with_name(f".{state.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint(con, settings)}) + "\n")
    os.replace(tmp, state)
