"""How many examples the property tests (hypothesis) try.

`make test` runs a quick tenth of each test's examples; CI runs them all
(`HYPOTHESIS_PROFILE=ci`, which `.ci/run` sets). Loaded by tests/conftest.py,
before any test module is imported.
"""

import os

from hypothesis import settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
if PROFILE not in ("quick", "ci"):
    raise RuntimeError(f"HYPOTHESIS_PROFILE must be quick or ci, not {PROFILE!r}")
QUICK_SHARE = 10

# Tests that name no count get hypothesis's default (100) in CI, a few in `make test`.
settings.register_profile("ci", max_examples=100, print_blob=True)
# The quick profile is derandomised: `make test` tries the same examples every run, so
# a rare draw cannot fail it (the fuzzers' own guard counts accepted bodies); CI keeps
# drawing new ones.
settings.register_profile("quick", max_examples=100 // QUICK_SHARE, derandomize=True)
settings.load_profile(PROFILE)


def examples(full: int) -> int:
    """`full` examples in CI; a tenth (at least 10) in `make test`."""
    return full if PROFILE == "ci" else max(10, full // QUICK_SHARE)
