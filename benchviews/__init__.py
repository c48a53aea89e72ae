"""Baseline views the benchmarks in bench/ measure the API against.

Not part of the product: `botadmin/urls.py` mounts `benchviews.urls` under
/bench/ only when BOTADMIN_BENCH_VIEWS is on (off by default; never in
production — the send baselines store messages without a secret).
"""
