"""A deterministic generator of contract-conformant OLTP exports, and the totals they imply.

The public API the tests and the benchmark use:
- `generate(out, Scenario(...))`: the batches under `out/` and `out/expected_totals.json`
  (scenario.py, which says what the sample carries batch by batch);
- `BatchWriter`, `text_frame`, `ENCODINGS`: a batch folder as the exporter writes it (files.py);
- `ts`, `audit_row_hash`: the contract's text form of an instant, an audit row's hash.
"""

from tools.generator.files import BatchWriter, text_frame
from tools.generator.scenario import generate
from tools.generator.tables import audit_row_hash
from tools.generator.world import ENCODINGS, Scenario, ts

__all__ = ["ENCODINGS", "BatchWriter", "Scenario", "audit_row_hash", "generate", "text_frame", "ts"]
