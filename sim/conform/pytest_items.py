"""The conformance cases as pytest items, for any profiles: one item per (profile, case).

    SIMP_PROFILES=impls/alice.yaml,impls/bob.yaml python -m pytest -n 8 sim/conform/pytest_items.py

Without SIMP_PROFILES the built-in profile (this project's daemon) is used.  Each item starts
its own daemon on its own addresses, so pytest-xdist may spread them over cores, and with its
remote gateways (`--tx ssh=...`) over machines (docs/CONFORMANCE.md has the recipe).  A case
that is not applicable is skipped with its reason; "not observable" passes with a warning that
names what could not be seen; a failure prints the deviation and the ladder.
"""

from __future__ import annotations

import asyncio
import os
import warnings

import pytest

from sim.conform.cases import CASES, Case
from sim.conform.runner import FAIL, NA, PARTIAL, PASS, run_case
from sim.profiles import BUILTIN, Profile, load_profile

_PROFILES = [p.strip() for p in os.environ.get("SIMP_PROFILES", BUILTIN).split(",") if p.strip()]


@pytest.fixture(scope="module", params=_PROFILES)
def profile(request: pytest.FixtureRequest) -> Profile:
    return load_profile(request.param)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance(profile: Profile, case: Case) -> None:
    r = asyncio.run(run_case(profile, case))
    if r.status == NA:
        pytest.skip(f"not applicable: {r.detail}")
    if r.status == PARTIAL:
        warnings.warn(f"{profile.name} {case.id}: {r.summary()}", stacklevel=1)
    tail = "" if r.status == FAIL else "\n" + "\n".join(r.daemon_output[-20:])
    why = f"{profile.name} {case.id}: {r.status.upper()}: {r.detail}\n{r.ladder}{tail}"
    assert r.status in (PASS, PARTIAL), why
