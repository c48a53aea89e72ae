"""botadmin/gunicorn_conf.py: what the web server of `make run` and production keeps where."""

from __future__ import annotations

from devtools.processes import database_url
from tests.messaging.conftest import running_gunicorn
from tests.polling import wait_until


def test_the_control_socket_is_in_the_installations_var_folder(transactional_db, tmp_path):
    """Not gunicorn's ~/.gunicorn/gunicorn.ctl, which every gunicorn of the user shares
    and which systemd's botadmin user could not create in a checkout it does not own."""
    home, var = tmp_path / "home", tmp_path / "var"
    home.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": "", "BOTADMIN_VAR_DIR": str(var)}
    with running_gunicorn(database_url(), tmp_path / "server.log", env):
        assert wait_until(lambda: (var / "gunicorn.ctl").is_socket(), 10)
        assert not (home / ".gunicorn").exists()
