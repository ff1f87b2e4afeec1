"""The FOCUS export of the sample (reports/<batch>/focus/): the files, their evidence, the FinOps
Foundation's focus-validator on them, and our own checks of FOCUS 1.2 the validator does not know."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.lib.config import PROJECT_ROOT
from pipelines.lib.reports import sha256_file

VALIDATOR = Path(os.environ.get("FOCUS_VALIDATOR_PYTHON", PROJECT_ROOT / ".venv-focus-validator" / "bin" / "python"))

# focus-validator 1.0.0 (the newest release) knows FOCUS 0.5 and 1.0 only, and its 1.0 rules still
# name four columns by their 1.0-preview names, and read ChargeType (1.0's ChargeCategory) in one rule.
# The file it is given is ours with those names; nothing else changes.
VALIDATOR_NAMES = {"ProviderName": "Provider", "PublisherName": "Publisher", "InvoiceIssuerName": "InvoiceIssuer",
                   "ResourceId": "ResourceID"}

# FOCUS 1.2's columns, and those it makes conditional that this provider has (the rest: no
# capacity reservations, no pricing currency apart from the billing currency, no invoice ids)
FOCUS_12_COLUMNS = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit",
    "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId", "RegionName",
    "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId",
    "SkuPriceId", "SubAccountId", "SubAccountName", "SubAccountType", "Tags",
}
SUBCATEGORIES = {"Compute": {"Virtual Machines", "Containers"}, "AI and Machine Learning": {"Generative AI"},
                 "Other": {"Other (Other)"}}
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def pack(built):
    """The newest FOCUS pack of the session's warehouse, and the rows of its period in the mart."""
    con = duckdb.connect(str(built.published_db), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    directory, period = con.execute(
        "select directory, period from ops.report_manifests where report = 'focus_charges' "
        "order by pack_seq desc limit 1").fetchall()[0]
    directory = built.data_dir / directory
    assert directory.relative_to(built.reports_dir).as_posix() == f"focus/{period}/draft"  # the sample's November
    # the mart's FOCUS columns: charge_date and _watermark are the warehouse's, left out of the files
    mart = con.sql("select * exclude (charge_date, _watermark) from marts.rpt_focus_charges "
                   f"where strftime(\"BillingPeriodStart\", '%Y-%m') = '{period}'").pl()
    con.close()
    return directory, mart


def test_one_parquet_and_csv_per_organization_and_month_covered_by_the_evidence(pack):
    directory, mart = pack
    evidence = json.loads((directory / "focus_charges.evidence.json").read_text())
    listed = {f["path"]: f["sha256"] for f in evidence["files"]}
    on_disk = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {"focus_charges.evidence.json"}
    assert all(sha256_file(directory / p) == h for p, h in listed.items())
    organizations = mart["BillingAccountId"].unique()
    assert set(listed) == {f"{o}.{ext}" for o in organizations for ext in ("parquet", "csv")}
    assert len(listed) >= 6  # the sample: three organizations in November

    # the Parquet files hold the mart's rows and types (DECIMAL money), the CSVs the same values as text
    files = pl.concat([pl.read_parquet(directory / p) for p in sorted(listed) if p.endswith(".parquet")])
    assert files.schema == mart.schema and files.schema["BilledCost"] == pl.Decimal(38, 2)
    assert files.sort(pl.all()).equals(mart.sort(pl.all()))
    for path in (p for p in listed if p.endswith(".csv")):
        text = pl.read_csv(directory / path, infer_schema=False)
        parquet = pl.read_parquet(directory / path.replace(".csv", ".parquet"))
        assert text["BilledCost"].to_list() == [str(v) for v in parquet["BilledCost"]]
        assert text["ChargePeriodStart"].to_list() == [f"{v:%Y-%m-%dT%H:%M:%S}Z" for v in parquet["ChargePeriodStart"]]


def test_the_focus_validator_passes_every_file(pack, tmp_path):
    """focus-validator 1.0.0 from the package index, in its own environment (make test installs it),
    against FOCUS 1.0, the newest version it supports. It exits 0 even when rules fail: its verdict
    is its last line."""
    assert VALIDATOR.exists(), f"{VALIDATOR}: run `make test`, which installs focus-validator"
    site = subprocess.run([str(VALIDATOR), "-c", "import focus_validator, os; "
                           "print(os.path.dirname(os.path.dirname(focus_validator.__file__)))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    directory, _ = pack
    csvs = sorted(directory.rglob("*.csv"))
    bad = tmp_path / "bad.csv"
    for n, path in enumerate([*csvs, bad]):
        frame = pl.read_csv(path if path != bad else csvs[0], infer_schema=False)
        if path == bad:  # the validator can fail: a category FOCUS does not have
            frame = frame.with_columns(pl.lit("GPU").alias("ServiceCategory"))
        renamed = tmp_path / f"{n}.csv"
        frame.rename(VALIDATOR_NAMES).with_columns(ChargeType=pl.col("ChargeCategory")).write_csv(renamed)
        # it reads its currency list by a path relative to its package's parent folder
        out = subprocess.run([str(VALIDATOR), "-m", "focus_validator.main", "--data-file", str(renamed),
                              "--validate-version", "1.0"], cwd=site, capture_output=True, text=True, timeout=300)
        verdict = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]
        if path == bad:
            assert verdict == "Validation failed!" and "ServiceCategory_Enum" in out.stdout
        else:
            assert verdict == "Validation succeeded.", (path, out.stdout[-3000:], out.stderr[-2000:])


def test_focus_12_rules_the_validator_does_not_know(pack):
    directory, _ = pack
    for path in sorted(directory.rglob("*.csv")):
        f = pl.read_csv(path, infer_schema=False)
        rows = f.to_dicts()
        assert FOCUS_12_COLUMNS <= set(f.columns), FOCUS_12_COLUMNS - set(f.columns)
        assert all(c in FOCUS_12_COLUMNS or c.startswith("x_") for c in f.columns)  # extensions carry x_
        for r in rows:
            assert r["ChargeCategory"] in {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}
            assert r["ChargeClass"] in {None, "Correction"}
            assert r["ChargeFrequency"] in {"One-Time", "Recurring", "Usage-Based"}
            assert r["BillingAccountType"] == "Organization" and r["SubAccountType"] in {None, "Project"}
            assert (r["SubAccountType"] is None) == (r["SubAccountId"] is None)
            assert re.fullmatch(r"[A-Z]{3}", r["BillingCurrency"])
            assert r["ServiceSubcategory"] in SUBCATEGORIES[r["ServiceCategory"]]
            assert isinstance(json.loads(r["Tags"]), dict)
            # instants in UTC, ends exclusive: a charge period is a day inside its billing period, a month
            start, end, bstart, bend = (datetime.fromisoformat(r[c]) for c in (
                "ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"))
            assert all(INSTANT.match(r[c]) for c in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart"))
            assert end - start == timedelta(days=1) and bstart <= start and end <= bend
            assert bstart.day == 1 and bstart.tzinfo == UTC and (bend - timedelta(days=1)).month == bstart.month
            assert bend.day == 1
            assert path.parent.parent.name == f"{bstart:%Y-%m}" and path.stem == r["BillingAccountId"]
            # money in the billing currency to the cent; the four costs agree (no discounts, no commitments)
            assert re.fullmatch(r"-?\d+\.\d{2}", r["BilledCost"])
            assert r["BilledCost"] == r["EffectiveCost"] == r["ListCost"] == r["ContractedCost"]
            if r["ChargeCategory"] == "Usage":
                assert r["PricingQuantity"] and r["PricingUnit"] and r["SkuPriceId"] and r["SkuId"]
                assert r["PricingCategory"] == "Standard" and r["ChargeFrequency"] == "Usage-Based"
                cost = Decimal(r["PricingQuantity"]) * Decimal(r["ListUnitPrice"])
                assert abs(cost - Decimal(r["BilledCost"])) < Decimal("0.01") * 2  # a share of its key's cents
            else:
                assert r["ConsumedQuantity"] is None and r["ConsumedUnit"] is None and r["x_LedgerEntryId"]
                assert r["ChargeFrequency"] == "One-Time"
