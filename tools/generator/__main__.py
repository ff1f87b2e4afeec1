"""`python -m tools.generator OUT`: write the deterministic exports (`make sample`)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path

from tools.generator.scenario import generate
from tools.generator.world import Scenario


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write deterministic OLTP export batches.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--events-per-day", type=int, default=Scenario.events_per_day)
    parser.add_argument("--days", type=int, default=Scenario.days)
    parser.add_argument("--organizations", type=int, default=Scenario.organizations)
    parser.add_argument("--projects-per-org", type=int, default=Scenario.projects_per_org)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--seed", type=int, default=Scenario.seed)
    parser.add_argument("--start", type=date.fromisoformat, default=Scenario.start.date(),
                        help="the first day (YYYY-MM-DD, UTC): batch n is exported on the day after day n")
    args = parser.parse_args(argv)
    sc = Scenario(organizations=args.organizations, projects_per_org=args.projects_per_org, days=args.days,
                  events_per_day=args.events_per_day, faults=not args.no_faults, seed=args.seed,
                  start=datetime.combine(args.start, datetime.min.time(), UTC))
    expected = generate(args.out, sc)
    print(f"wrote {len(expected['batches'])} batches to {args.out}")


if __name__ == "__main__":
    main()


