"""A fake `systemd-run` for deploy/botadmin-manage (no systemd runs where the tests do).

    bin/systemd-run:  #!/bin/sh  exec python tests/fakes/systemd_run.py "$@"

It appends its arguments and whether its standard input is a terminal, as a JSON line,
to the file FAKE_SYSTEMD_RUN_LOG names. With FAKE_SYSTEMD_RUN_EXEC=1 it then runs the
command after `--` roughly as systemd would run the transient service: in the
`WorkingDirectory=` property, with the `--setenv=` variables and the `EnvironmentFile=`
property's plain KEY=value lines and none of the caller's environment but PATH, and
exits with its status. It runs it as the caller: `--uid` and `--gid` are only recorded.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_SYSTEMD_RUN_LOG"], "a") as log:
        log.write(json.dumps({"argv": argv, "stdin_tty": os.isatty(0)}) + "\n")
    if os.environ.get("FAKE_SYSTEMD_RUN_EXEC") != "1":
        return 0
    options, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    properties = dict(
        option.removeprefix("--property=").split("=", 1)
        for option in options
        if option.startswith("--property=")
    )
    env = {"PATH": os.environ["PATH"]}
    with open(properties["EnvironmentFile"]) as lines:
        env.update(line.strip().split("=", 1) for line in lines if "=" in line)
    env.update(
        option.removeprefix("--setenv=").split("=", 1)
        for option in options
        if option.startswith("--setenv=")
    )
    os.chdir(properties["WorkingDirectory"])
    os.execve(command[0], command, env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
