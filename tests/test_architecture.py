"""docs/architecture.md's newcomer path names one file per hop, from the export file to the
finance workbook's writer: every file it names exists, and the path is whole (numbered 1..n)."""

import re

from pipelines.lib.config import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "architecture.md"


def test_every_file_on_the_newcomer_path_exists():
    text = DOC.read_text()
    path = text[text.index("## A newcomer's path"):text.index("## Layout")]
    hops = re.findall(r"^\| (\d+) \| [^|]+ \| `([^`]+)` \|$", path, flags=re.M)
    assert [int(n) for n, _ in hops] == list(range(1, len(hops) + 1)) and len(hops) >= 12
    missing = [f for _, f in hops if not (PROJECT_ROOT / f).is_file()]
    assert not missing, missing
    layers = {"models/", "pipelines/lib/ingest/", "dbt_project/models/staging/", "dbt_project/models/marts/",
              "dbt_project/models/reports/", "pipelines/lib/finance.py"}
    assert all(any(f.startswith(layer) for _, f in hops) for layer in layers)


def test_every_folder_of_the_layout_exists():
    text = DOC.read_text()
    layout = text[text.index("## Layout"):]
    named = re.findall(r"^([\w./-]+/)", layout.split("```")[1], flags=re.M)
    assert named and all((PROJECT_ROOT / d).is_dir() for d in named), named
