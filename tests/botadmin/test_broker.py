"""The default broker is kombu's filesystem transport with whole-file writes
(botadmin/broker.py): a worker must never read a message file half written.
kombu's own transport lost about one message in twenty here, and the worker died;
the race test fails about every other run against it."""

import json
import multiprocessing
import os
from queue import Empty

import pytest
from celery import current_app
from kombu import Connection

from botadmin.broker import Transport


@pytest.fixture
def folder(tmp_path):
    return {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}


def _channel(options):
    return Connection("filesystem://localhost/", transport=Transport, transport_options=options)


def _write(options, messages):
    with _channel(options) as connection:
        for i in range(messages):
            connection.default_channel._put("celery", {"i": i})


def test_a_reader_racing_a_writer_gets_every_message_whole(folder):
    # A writer in another process, as the web server is to a worker.
    messages = 3000
    writer = multiprocessing.get_context("fork").Process(target=_write, args=(folder, messages))
    received, broken = [], []
    with _channel(folder) as connection:
        reader = connection.default_channel
        writer.start()
        while len(received) + len(broken) < messages:
            try:
                received.append(reader._get("celery")["i"])
            except Empty:
                if not writer.is_alive() and not os.listdir(folder["data_folder_in"]):
                    break
            except json.JSONDecodeError as error:  # kombu's own transport fails here
                broken.append(error)
    writer.join()

    assert broken == []
    assert sorted(received) == list(range(messages))


def test_the_default_broker_uses_it():
    if not current_app.conf.broker_url.startswith("filesystem://"):
        pytest.skip("this run's broker is not the filesystem")
    with current_app.connection_for_write() as connection:
        assert connection.get_transport_cls() is Transport
