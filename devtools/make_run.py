"""`make run`: the web server's port and public URL as every process reads its settings
(the environment, then `.env`, then the default), then honcho with the Procfile.

Make cannot read `.env`: a `PORT ?= 8000` in the Makefile became an environment variable
of every process, which wins over `.env`, so `PORT=8123` there was ignored. honcho gives
each process a PORT of its own, so the Procfile hands the web server's port on as WEB_PORT.

honcho stamps each line of the log with its own clock, the machine's (UTC on most servers),
while the processes log in TIME_ZONE (Django sets TZ from it): "09:11:35 web.1 | [17:11:35
+0800]" on one line. TZ=TIME_ZONE gives honcho the processes' clock.

Ctrl-C: honcho stops the processes and exits 130, which make reported as a failure
("make: *** [Makefile:75: run] Error 130"). The launcher waits for honcho instead of
becoming it, and says in one line that everything stopped.

A launcher killed alone (SIGKILL, the OOM killer) left honcho and every process running,
holding the ports: the next `make run` failed, or ran a second set of workers; so did make
killed alone, whose SIGKILL it cannot pass on to its recipe. On Linux, honcho gets a SIGTERM
when the launcher ends, and the launcher one when make ends, however they end: honcho stops
the processes as on Ctrl-C.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable

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


# What honcho exits with after a SIGINT (honcho.manager.SIGNALS).
INTERRUPTED = 128 + signal.SIGINT

# <linux/prctl.h>: the signal a process gets when its parent ends.
PR_SET_PDEATHSIG = 1


def ended_with(parent: int) -> Callable[[], None] | None:
    """A function that makes the process calling it, a child of `parent`, get SIGTERM when
    `parent` ends, even by SIGKILL (Linux's PR_SET_PDEATHSIG); None where there is no prctl
    (the child outlives its parent)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded here: a preexec_fn only calls it

    def end_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it ended before prctl: no signal will come
            os.kill(os.getpid(), signal.SIGTERM)

    return end_with_parent


def ended_with_this_process() -> Callable[[], None] | None:
    """A preexec_fn for a child that gets SIGTERM when this process ends."""
    return ended_with(os.getpid())


def main(honcho: str) -> None:
    # Each process reads .env itself, as in production (the environment wins over it):
    # honcho's own reading (-e) would put .env over `make run HOST=…`.
    command = [honcho, "--no-colour", "-e", "/dev/null", "-f", "Procfile", "start"]
    # make ending (the recipe runs us with exec) ends us, and so honcho, as we end honcho.
    if (end_with_make := ended_with(os.getppid())) is not None:
        end_with_make()
    # Ctrl-C reaches honcho as it reaches us (the terminal signals the whole foreground
    # group): honcho stops the processes, we wait for it. A SIGTERM is for us alone (make
    # passes one on to its recipe): honcho gets it too. Set before honcho starts, so it
    # finds no moment without them; a handler, not SIG_IGN, is not inherited by honcho.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    honcho_process = subprocess.Popen(
        command, env=run_environment(), preexec_fn=ended_with_this_process()
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: honcho_process.terminate())
    returncode = honcho_process.wait()
    if returncode == INTERRUPTED:
        print("make run: stopped; every process it started has ended.", flush=True)
        sys.exit(0)
    sys.exit(returncode)


if __name__ == "__main__":
    main(*sys.argv[1:])
