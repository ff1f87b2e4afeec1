"""pyproject.toml, requirements.in and requirements.lock name the same direct dependencies: a package
declared and never installed, or installed and never declared, fails here."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pipelines.lib.config import PROJECT_ROOT


def requirements(lines) -> dict[str, Requirement]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            out[canonicalize_name(req.name)] = req
    return out


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project.get("optional-dependencies", {}).values() for r in group]
    return requirements(project["dependencies"] + extras)


def locked() -> dict[str, str]:
    pins = {}
    for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines():
        m = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip())
        assert m, f"requirements.lock holds only name==version lines, not {line!r}"
        pins[canonicalize_name(m[1])] = m[2]
    return pins


def test_pyproject_and_requirements_in_name_the_same_packages_and_specifiers():
    ours = declared()
    theirs = requirements((PROJECT_ROOT / "requirements.in").read_text().splitlines())
    assert sorted(ours) == sorted(theirs)
    assert {n: (str(r.specifier), sorted(r.extras)) for n, r in ours.items()} == \
        {n: (str(r.specifier), sorted(r.extras)) for n, r in theirs.items()}


def test_the_lock_pins_every_direct_dependency_within_its_specifier():
    pins = locked()
    for name, req in declared().items():
        assert name in pins, f"{name} is declared but not in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {req.specifier}"


def test_nothing_declared_is_left_unused():
    # dagster-duckdb was pinned and never imported: the warehouse opens DuckDB itself (pipelines/lib/duck.py)
    assert "dagster-duckdb" not in locked()
    assert "dagster-duckdb" not in declared()
