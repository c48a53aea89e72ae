"""`make run`: the web server's port and public URL as every process reads its settings
(the environment, then `.env`, then the default), then honcho with the Procfile.

Make cannot read `.env`: a `PORT ?= 8000` in the Makefile became an environment variable
of every process, which wins over `.env`, so `PORT=8123` there was ignored. honcho gives
each process a PORT of its own, so the Procfile hands the web server's port on as WEB_PORT.

honcho stamps each line of the log with its own clock, the machine's (UTC on most servers),
while the processes log in TIME_ZONE (Django sets TZ from it): "09:11:35 web.1 | [17:11:35
+0800]" on one line. TZ=TIME_ZONE gives honcho the processes' clock.
"""

from __future__ import annotations

import os
import sys

import environ

from botadmin.env_numbers import env_int

# botadmin/settings.py's default TIME_ZONE (tests/deploy/test_makefile.py checks they agree).
DEFAULT_TIME_ZONE = "Asia/Shanghai"


def run_environment() -> dict[str, str]:
    """The environment honcho starts the processes in (make runs in the checkout, where
    `.env` and the Procfile are). `.env` itself is not passed on: each process reads it."""
    given = dict(os.environ)
    environ.Env.read_env(".env", overwrite=False)
    port = env_int("PORT", 8000)
    public_url = os.environ.get("BOTADMIN_PUBLIC_URL", "").strip()
    return {
        **given,
        "TZ": os.environ.get("TIME_ZONE") or DEFAULT_TIME_ZONE,
        "WEB_PORT": str(port),
        # Forwarded media links point at the server `make run` starts, on whatever port.
        "BOTADMIN_PUBLIC_URL": public_url or f"http://127.0.0.1:{port}",
        "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
    }


def main(honcho: str) -> None:
    # Each process reads .env itself, as in production (the environment wins over it):
    # honcho's own reading (-e) would put .env over `make run HOST=…`.
    command = [honcho, "--no-colour", "-e", "/dev/null", "-f", "Procfile", "start"]
    os.execve(honcho, command, run_environment())


if __name__ == "__main__":
    main(*sys.argv[1:])
