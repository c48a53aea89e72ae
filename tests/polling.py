"""Waiting in tests: poll for the condition instead of sleeping a fixed time."""

import time


def wait_until(condition, timeout: float = 60.0, interval: float = 0.05) -> bool:
    """True as soon as `condition()` is true; False once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
