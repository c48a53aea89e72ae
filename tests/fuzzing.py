"""How many examples the property tests (hypothesis) and the sweeps try.

`make test` runs a quick tenth of each test's examples, and a sweep a share of its bad
values on each page; CI runs them all (`HYPOTHESIS_PROFILE=ci`, which `.ci/run` sets).
Loaded by tests/conftest.py, before any test module is imported.
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


def share(values: list, turn: int, every: int = 3) -> list:
    """All of `values` in CI; in `make test`, every `every`-th of them, starting at `turn`.

    A sweep gives each case its own `turn` (its page, its field), so that the cases of one
    `make test` between them still try every value, each on some of them."""
    if PROFILE == "ci":
        return list(values)
    return [value for index, value in enumerate(values) if (index - turn) % every == 0]
