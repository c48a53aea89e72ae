"""The systemd units' sandbox: botadmin's services run, and do their work, with the file
system mounted as the units' ProtectSystem=, ReadWritePaths= and PrivateTmp= mount it
(docs/install.md, "Running under systemd"): read-only everywhere but var/ and a private /tmp."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys

import pytest

from devtools.processes import ROOT
from devtools.receiver import Receiver

UNITS = ROOT / "deploy/systemd"
SERVICES = {
    "web": "botadmin-web.service",
    "worker": "botadmin-worker.service",
    "forwarder": "botadmin-forwarder.service",
    "fetcher": "botadmin-fetcher.service",
    "scheduler": "botadmin-scheduler.service",
    "beat": "botadmin-beat.service",
    "aibot": "botadmin-aibot.service",
}
# Run before them (they Require= it and come After= it): migrate, the cache's table,
# collectstatic.
PREPARE = "botadmin-migrate.service"
INSTALLED = "/opt/botadmin"


def unit_settings(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_services_see_the_system_read_only_but_var_and_a_tmp_of_their_own():
    for name in [PREPARE, *SERVICES.values()]:
        unit = unit_settings(name)
        assert unit["ProtectSystem"] == ["strict"], name
        assert unit["ReadWritePaths"] == [f"{INSTALLED}/var"], name
        assert unit["PrivateTmp"] == ["true"] and unit["ProtectHome"] == ["true"], name
        # What they create in var/ is not for other users (botadmin.W006 otherwise).
        assert unit["UMask"] == ["0027"], name


def test_the_services_start_once_the_database_is_migrated_and_the_static_files_collected():
    prepare = unit_settings(PREPARE)
    assert prepare["Type"] == ["oneshot"] and prepare["RemainAfterExit"] == ["yes"]
    # An index migration may build for minutes: no start time-out kills it half-way.
    assert prepare["TimeoutStartSec"] == ["infinity"]
    assert [line.split()[2] for line in prepare["ExecStart"]] == [
        "migrate",
        "createcachetable",
        "collectstatic",
    ]
    for name in SERVICES.values():
        unit = unit_settings(name)
        assert unit["Requires"] == [PREPARE], name
        assert PREPARE in unit["After"][0].split(), name
        assert "ExecStartPre" not in unit, name  # migrating is that unit's alone
    target = unit_settings("botadmin.target")
    assert set(target["Wants"][0].split()) == {PREPARE, *SERVICES.values()}


def docs_section(path: str, title: str) -> str:
    """The section of a document under a `## ` heading, up to the next one."""
    text = (ROOT / path).read_text()
    return text.partition(f"\n{title}\n")[2].partition("\n## ")[0]


def test_the_documented_installation_makes_what_the_units_need_before_they_start():
    """var/ is not in the repository: a unit whose ReadWritePaths= is missing fails with
    226/NAMESPACE (the sandbox test above makes its own var/)."""
    steps = docs_section("docs/install.md", "## Running under systemd")
    started = steps.index("systemctl start botadmin-migrate.service")
    for name in [PREPARE, *SERVICES.values()]:
        unit = unit_settings(name)
        user = re.search(rf"^ *useradd .*\b{unit['User'][0]}$", steps, re.M)
        assert user and user.start() < started, name
        for path in unit["ReadWritePaths"]:
            made = re.search(rf"^ *install -d -o {unit['User'][0]} .*{path}$", steps, re.M)
            assert made and made.start() < started, (name, path)
        made = steps.index(f"install -m 600 /dev/null {unit['EnvironmentFile'][0]}")
        assert made < started, name
    assert steps.index("make venv-prod") < started
    assert started < steps.index("botadmin-manage createsuperuser")
    assert started < steps.index("systemctl enable --now botadmin.target")


def test_the_documented_upgrade_installs_the_releases_units_before_restarting():
    """An installation older than a unit (botadmin-migrate.service, the forwarder's) has
    the old units in /etc: restarted with them, the new code runs without collectstatic
    (500 on every page using a new static file) or without a forwarder."""
    steps = docs_section("docs/upgrading.md", "## The procedure")
    copy = re.search(
        r"^cp deploy/systemd/(\S+) /etc/systemd/system/ && systemctl daemon-reload$", steps, re.M
    )
    assert copy, "the procedure copies the units"
    assert sorted(path.name for path in UNITS.glob(copy[1])) == sorted(
        path.name for path in UNITS.iterdir()
    )
    assert copy.start() < steps.index("systemctl restart botadmin.target")


def test_the_production_docs_run_commands_through_botadmin_manage():
    sections = "".join(
        [
            docs_section("docs/install.md", "## Running under systemd"),
            docs_section("docs/commands.md", "## On a production host: `deploy/botadmin-manage`"),
            (ROOT / "docs/backups.md").read_text(),
            (ROOT / "docs/upgrading.md").read_text(),
        ]
    )
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", sections, re.S))
    assert "manage.py" not in blocks
    for command in (
        "createsuperuser",
        "changepassword",
        "createbot",
        "rotatesecret",
        "sync_contacts",
        "export_messages",
        "migrate --plan",
    ):
        assert f"deploy/botadmin-manage {command}" in blocks, command


# Run as root in a mount namespace of its own (the network is the host's): mounts the
# file system as the units say, starts their commands, and prints what happened as JSON.
DRIVER = r"""
import json, os, signal, subprocess, sys, tempfile, time, urllib.request

spec = json.load(open(sys.argv[1]))
root = spec["root"]

def mount(*args):
    subprocess.run(["mount", *args], check=True)

# The test's var/ folder lives under /tmp, and so may the checkout (a CI clone): keep
# both reachable on a scratch mount, then put them back after PrivateTmp= hides /tmp.
mount("-t", "tmpfs", "tmpfs", "/mnt")
kept = {"var": spec["var"]}
if root == "/tmp" or root.startswith("/tmp/"):
    kept["root"] = root
for name, path in kept.items():
    os.mkdir(f"/mnt/{name}")
    mount("--bind", path, f"/mnt/{name}")
mount("-t", "tmpfs", "tmpfs", "/tmp")  # PrivateTmp=
if "root" in kept:
    os.makedirs(root)
    mount("--bind", "/mnt/root", root)
# ReadWritePaths=: the test's empty folder stands in for the checkout's var/.
for path in spec["read_write"]:
    mount("--bind", "/mnt/var", path)
# ProtectSystem=strict: every other mount read-only, except the API file systems and
# the private /tmp; full: /usr, /boot, /efi and /etc.
if spec["protect_system"] == "strict":
    with open("/proc/self/mountinfo") as mounts:
        points = {line.split()[4] for line in mounts}
else:
    points = {p for p in ("/usr", "/boot", "/efi", "/etc") if os.path.isdir(p)}
    for point in points:
        mount("--bind", point, point)
for point in sorted(points):
    if point.startswith(("/proc", "/sys", "/dev")) or point in spec["read_write"] or point == "/tmp":
        continue
    subprocess.run(["mount", "-o", "remount,bind,ro", point], stderr=subprocess.DEVNULL)
try:
    # Nameless where the file system allows it, removed at once where not: a sandbox
    # that is not read-only leaves nothing behind in the checkout.
    tempfile.TemporaryFile(dir=root).close()
    checkout_writable = True
except OSError:
    checkout_writable = False

seen = {"checkout_writable": checkout_writable, "steps": {}}
env = spec["env"]

def run(name, argv):
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    seen["steps"][name] = {"returncode": done.returncode, "output": (done.stdout + done.stderr)[-3000:]}
    return done

def get(url, data=None):
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return None, b""

for name, argv in spec["before"].items():
    run(name, argv)
created = run("createbot", spec["createbot"])
services = {}
for name, argv in spec["services"].items():
    log = open(f"/tmp/{name}.log", "wb")
    services[name] = subprocess.Popen(
        argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
base = f"http://127.0.0.1:{env['PORT']}"
deadline = time.monotonic() + 120
while time.monotonic() < deadline and get(base + "/healthz")[0] != 200:
    time.sleep(0.5)
if created.returncode == 0:
    body = dict(spec["callback"], secret=json.loads(created.stdout)["secret"])
    seen["callback"] = get(base + "/api/callback", json.dumps(body).encode())[1].decode()
while time.monotonic() < deadline:
    status, answer = get(base + "/readyz")
    seen["readyz"] = {"status": status, "answer": answer.decode(errors="replace")}
    if status == 200:
        break
    time.sleep(1)
print("ready", flush=True)
sys.stdin.read()  # the test has seen the forwarded message, or given up
seen["var"] = sorted(
    os.path.relpath(os.path.join(folder, name), spec["read_write"][0])
    for folder, folders, files in os.walk(spec["read_write"][0])
    for name in folders + files
)

for process in services.values():
    os.killpg(process.pid, signal.SIGTERM)
for name, process in services.items():
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    output = open(f"/tmp/{name}.log", errors="replace").read()
    seen["steps"][name] = {"output": output[-3000:], "read_only": "Read-only file system" in output}
print(json.dumps(seen))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _command(line: str) -> list[str]:
    """An ExecStart= line as systemd runs it: `%%` is its escape of a `%`."""
    return shlex.split(line.replace(INSTALLED, str(ROOT)).replace("%%", "%"))


def test_the_services_start_and_forward_a_message_within_the_units_sandbox(tmp_path):
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to mount the file system as systemd would")
    units = {name: unit_settings(unit) for name, unit in SERVICES.items()}
    var = tmp_path / "var"
    var.mkdir()
    # The defaults, which write the most into var/: SQLite, the filesystem broker, the
    # database cache, and var/ itself rather than a test process's var/test-gwN/.
    others = {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "PYTEST_XDIST_WORKER"}
    env = {k: v for k, v in os.environ.items() if k not in others and "BOTADMIN" not in k}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    for assignment in units["web"].get("Environment", []):
        env.update([assignment.split("=", 1)])
    env.update(
        HOME=str(ROOT),  # the botadmin user's home, read-only like the rest
        PORT=str(_free_port()),
        WEB_CONCURRENCY="1",
        WEB_THREADS="2",
        BOTADMIN_ALLOW_PRIVATE_URLS="1",
        BOTADMIN_HEARTBEAT_INTERVAL="1",
        BOTADMIN_METRICS_TOKEN="sandbox-metrics",
    )
    with Receiver() as receiver:
        spec = {
            "root": str(ROOT),
            "var": str(var),
            "read_write": [p.replace(INSTALLED, str(ROOT)) for p in units["web"]["ReadWritePaths"]],
            "protect_system": units["web"]["ProtectSystem"][0],
            "env": env,
            # What botadmin-migrate.service runs before the others start (by manage.py
            # command): migrate, the database cache's table (CACHE_URL's default, as
            # here) and collectstatic.
            "before": {
                argv[2]: argv for argv in map(_command, unit_settings(PREPARE)["ExecStart"])
            },
            "createbot": [
                f"{ROOT}/.venv/bin/python",
                "manage.py",
                "createbot",
                "--name=sandbox",
                "--connector=bridge",
                "--agent-url=http://127.0.0.1:9",
                f"--webhook-url={receiver.url('/hook')}",
            ],
            "services": {name: _command(unit["ExecStart"][0]) for name, unit in units.items()},
            "callback": json.loads((ROOT / "tests/messaging/callbacks/text.json").read_text()),
        }
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        (tmp_path / "driver.py").write_text(DRIVER)
        driver = subprocess.Popen(
            [
                unshare,
                "--mount",
                "--propagation",
                "private",
                sys.executable,
                "driver.py",
                "spec.json",
            ],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            forwarded = receiver.wait_for(1, timeout=150)
        finally:
            out, err = driver.communicate(input="", timeout=180)
    assert driver.returncode == 0, err
    seen = json.loads(out.strip().splitlines()[-1])
    report = json.dumps(seen["steps"], indent=1, ensure_ascii=False)

    assert seen["checkout_writable"] is False  # the sandbox is real
    assert seen["steps"]["migrate"]["returncode"] == 0, report
    assert seen["steps"]["createcachetable"]["returncode"] == 0, report
    assert seen["steps"]["collectstatic"]["returncode"] == 0, report
    assert seen["steps"]["createbot"]["returncode"] == 0, report
    assert seen["readyz"]["status"] == 200, seen["readyz"]["answer"] + report
    assert forwarded and json.loads(forwarded[0].body)["text"]["content"] == "下午三点开会"
    assert not any(step.get("read_only") for step in seen["steps"].values()), report
    assert "Read-only file system" not in report
    assert {
        "botadmin.sqlite3",
        "secret_key",
        "broker",
        "metrics/web",
        "gunicorn.ctl",
        "static/staticfiles.json",
    } <= set(seen["var"]), seen["var"]
    assert any(path.startswith("celerybeat-schedule") for path in seen["var"]), seen["var"]
