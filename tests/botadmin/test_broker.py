"""The default broker is kombu's filesystem transport with whole-file writes
(botadmin/broker.py): a worker must never read a message file half written.
kombu's own transport lost about one message in twenty here, and the worker died;
the race test fails about every other run against it."""

import json
import multiprocessing
import os
import resource
import shutil
import signal
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from queue import Empty

import pytest
from celery import current_app
from kombu import Connection, Exchange, Producer, Queue
from kombu.transport import filesystem

from botadmin.broker import STALE_PART_SECONDS, Transport


@pytest.fixture
def folder(tmp_path):
    return {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
        "processed_folder": str(tmp_path / "processed"),
        "control_folder": str(tmp_path / "control"),
    }


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


def test_a_deleted_broker_folder_is_made_again_and_the_next_message_goes_through(folder, tmp_path):
    with _channel(folder) as connection:
        channel = connection.default_channel
        channel._put("celery", {"i": 1})
        assert channel._get("celery") == {"i": 1}
        channel._put("celery", {"i": 2})

        shutil.rmtree(tmp_path)  # `rm -rf var/broker` while botadmin runs
        with pytest.raises(Empty):
            channel._get("celery")  # message 2 went with the folder: a lost wake-up
        channel._put("celery", {"i": 3})
        assert channel._get("celery") == {"i": 3}

        shutil.rmtree(tmp_path)
        channel._put("celery", {"i": 4})  # the writer makes the folders too
        assert channel._get("celery") == {"i": 4}


def test_two_readers_never_get_the_same_message(folder):
    _write(folder, 500)
    with _channel(folder) as first, _channel(folder) as second:
        readers = [first.default_channel, second.default_channel]
        received = []
        for turn in range(2000):
            try:
                received.append(readers[turn % 2]._get("celery")["i"])
            except Empty:
                if len(received) == 500:
                    break
    assert sorted(received) == list(range(500))


def test_after_the_folder_is_deleted_a_publisher_still_reaches_its_queue(folder, tmp_path):
    # The exchange's bindings lived in the deleted control folder; a web process
    # declared them once, at its first publish, and does not declare them again.
    with _channel(folder) as connection:
        queue = connection.SimpleQueue("celery")
        queue.put({"i": 1})
        queue.get(timeout=2).ack()

        shutil.rmtree(tmp_path)
        queue.put({"i": 2})

        message = queue.get(timeout=2)
        message.ack()
        assert message.payload == {"i": 2}
        queue.close()


def _publish_to_fresh_exchanges(options, start, failures, exchanges):
    with _channel(options) as connection:
        producer = Producer(connection.default_channel)
        start.wait()
        for n in range(exchanges):
            # As a process's first publish does: it binds the queue, then reads the table.
            queue = Queue(f"queue{n}", Exchange(f"exchange{n}", "direct"), routing_key="wake")
            try:
                producer.publish(
                    {"n": n}, exchange=queue.exchange, routing_key="wake", declare=[queue]
                )
            except Exception as error:
                failures.put(f"{type(error).__name__}: {error}")


def _failures_at_once(target, options, each):
    """What `target(options, start, failures, *args)` reported, run in a forked process for
    each `args` of `each`, all waiting for one another at `start`."""
    context = multiprocessing.get_context("fork")
    start, failures = context.Barrier(len(each)), context.Queue()
    processes = [
        context.Process(target=target, args=(options, start, failures, *args)) for args in each
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    return errors


def test_processes_binding_and_publishing_at_once_on_a_fresh_folder_all_get_through(folder):
    # The web processes and the workers of a fresh var/ each bind their queues at their
    # first publish. With kombu's own bind, a process read an exchange's table while
    # another had created its file but not yet written it: JSONDecodeError, a wake-up lost
    # (about one publish in fifteen here).
    exchanges, processes = 200, 4
    errors = _failures_at_once(_publish_to_fresh_exchanges, folder, [(exchanges,)] * processes)
    assert errors == []
    assert len(os.listdir(folder["data_folder_in"])) == exchanges * processes


@contextmanager
def _table_cut_short(options, left):
    """The queue "celery", which got one message through, its exchange's table then left as
    a crash while kombu rewrote it in place leaves it: empty, or cut short."""
    with _channel(options) as connection:
        queue = connection.SimpleQueue("celery")
        queue.put({"i": 1})
        queue.get(timeout=2).ack()
        (table,) = (
            p for p in os.scandir(options["control_folder"]) if p.name.endswith(".exchange")
        )
        with open(table.path, "w") as cut_short:
            cut_short.write(left)
        yield queue, table.path
        queue.close()


CUT_SHORT = ["", '[["celery", "", "celery"]']


@pytest.mark.parametrize("left", CUT_SHORT)
def test_an_exchange_table_cut_short_is_made_again_and_publishing_goes_on(folder, left):
    """Every publish to the exchange failed with JSONDecodeError until someone deleted the
    file."""
    with _table_cut_short(folder, left) as (queue, _):
        queue.put({"i": 2})

        message = queue.get(timeout=2)
        message.ack()
        assert message.payload == {"i": 2}


def _publish_once(options, failures):
    """As a web process's first publish does: it binds the queue, then reads the table."""
    with _channel(options) as connection:
        queue = Queue("celery", Exchange("celery", "direct"), routing_key="celery")
        try:
            Producer(connection.default_channel).publish(
                {"i": 2}, exchange=queue.exchange, routing_key="celery", declare=[queue]
            )
        except Exception as error:
            failures.put(f"{type(error).__name__}: {error}")


@pytest.mark.parametrize("left", CUT_SHORT)
def test_a_fresh_process_binding_to_a_table_cut_short_makes_it_again_and_publishes(folder, left):
    """A process started after the crash binds its queue before it reads the table: kombu's
    bind read the cut-short file and failed with JSONDecodeError, and the first wake-up the
    process published was lost."""
    with _table_cut_short(folder, left) as (queue, table):
        # Spawned, not forked: kombu keeps the bindings a process made in a global, which
        # a fork inherits, and a process that bound the queue once never binds it again.
        context = multiprocessing.get_context("spawn")
        failures = context.Queue()
        publisher = context.Process(target=_publish_once, args=(folder, failures))
        publisher.start()
        publisher.join()

        assert publisher.exitcode == 0
        failure = None if failures.empty() else failures.get()
        assert failure is None
        message = queue.get(timeout=2)
        message.ack()
        assert message.payload == {"i": 2}
        with open(table) as remade:
            assert json.load(remade) == [["celery", "", "celery"]]


def test_deleting_a_queue_bound_to_a_table_cut_short_makes_it_again_without_the_queue(folder):
    with _channel(folder) as connection:
        channel = connection.default_channel
        exchange = Exchange("wake", "fanout")
        for name in ("first", "second"):
            Queue(name, exchange)(channel).declare()
        (table,) = (p for p in os.scandir(folder["control_folder"]) if p.name == "wake.exchange")
        with open(table.path, "w") as cut_short:
            cut_short.write('[["", "", "second"], ["", ""')

        channel.queue_delete("first")

        with open(table.path) as remade:
            assert json.load(remade) == [["", "", "second"]]


def _bind_at_once(options, start, failures, name):
    with _channel(options) as connection:
        queue = Queue(name, Exchange("remade", "fanout"))
        start.wait()
        try:
            queue(connection.default_channel).declare()
        except Exception as error:
            failures.put(f"{type(error).__name__}: {error}")


def test_processes_binding_at_once_to_a_table_cut_short_all_get_through_and_all_are_kept(folder):
    # Workers starting together after the crash. Each remakes the table only while the
    # cut-short file is still in place; the others then add their queue to the remade one.
    os.makedirs(folder["control_folder"])
    with open(os.path.join(folder["control_folder"], "remade.exchange"), "w") as cut_short:
        cut_short.write('[["", "", "earlier"]')
    names = [f"worker{n}" for n in range(4)]
    assert _failures_at_once(_bind_at_once, folder, [(name,) for name in names]) == []
    with open(os.path.join(folder["control_folder"], "remade.exchange")) as remade:
        assert sorted(queue for _, _, queue in json.load(remade)) == ["earlier", *names]


def _fanout_table(options, name: str, text: str) -> tuple[Exchange, str]:
    """A fanout exchange (as Celery's remote control is) whose table a crash left as `text`,
    naming queues other processes bound; this process bound none to it (kombu keeps a
    process's bindings in a global: each test names its own exchange)."""
    exchange = Exchange(name, "fanout")
    os.makedirs(options["control_folder"])
    path = os.path.join(options["control_folder"], f"{name}.exchange")
    with open(path, "w") as table:
        table.write(text)
    return exchange, path


def test_a_table_cut_short_keeps_the_other_processes_bindings_it_still_holds(folder):
    """A bind had written the new table (its queue first) over the old one when the crash
    cut it, the old table's end still after it. Remade from this process's bindings alone,
    the other workers' queues got no broadcast until they started again; now only the one
    binding the crash cut in both tables is lost."""
    workers = ["celery@beat", "celery@worker-1", "celery@mail", "celery@worker-22"]
    old = json.dumps([["", "", f"{name}.celery.pidbox"] for name in workers])
    new = json.dumps([["", "", "celery@new.celery.pidbox"], *json.loads(old)])
    written = 82  # bytes of the new table written when the crash came: into worker-1's
    exchange, path = _fanout_table(folder, "broadcast", new[:written] + old[written:])
    with _channel(folder) as connection:
        Queue("celery@web.celery.pidbox", exchange)(connection.default_channel).declare()

        Producer(connection.default_channel).publish({"do": "ping"}, exchange=exchange)

        with open(path) as remade:
            kept = sorted(queue.removesuffix(".celery.pidbox") for _, _, queue in json.load(remade))
        assert kept == [
            "celery@beat",
            "celery@mail",
            "celery@new",
            "celery@web",
            "celery@worker-22",
        ]
        for name in kept:  # the broadcast reached each
            assert connection.default_channel._size(f"{name}.celery.pidbox") == 1


def test_a_deletion_stopped_before_cutting_the_table_keeps_the_queue_deleted(folder):
    """kombu writes the shorter table, then cuts the file to it: what follows the table is
    the old one's end, with the deleted queue's binding, which stays deleted."""
    exchange, path = _fanout_table(
        folder,
        "deleted",
        '[["", "", "worker2"]]' + '[["", "", "worker1"], ["", "", "worker2"]]'[21:],
    )
    with _channel(folder) as connection:
        Producer(connection.default_channel).publish({"do": "ping"}, exchange=exchange)

        with open(path) as remade:
            assert json.load(remade) == [["", "", "worker2"]]


def _killed_writing(options, exchange, queue, delete, limit):
    """Binds `queue` to `exchange` (with `delete`, deletes it once bound) and is killed by the
    kernel (SIGXFSZ) as it writes a file past its `limit`-th byte: a crash at that point of
    the table's write, whatever the writer does with it."""
    with _channel(options) as connection:
        channel = connection.default_channel
        bound = Queue(queue, exchange)(channel)
        if delete:
            bound.declare()
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it: a write fails
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        if delete:
            channel.queue_delete(queue)
        else:
            bound.declare()


# Celery's pidbox queues, named after workers whose host names have one length.
PIDBOXES = [["", "", f"celery@worker-{n * 7919 % 10_000:04}.celery.pidbox"] for n in range(400)]


CUTS = {  # where in the table being written the crash comes
    "first byte": lambda table: 1,
    "middle of a queue's name": lambda table: (
        table.index(PIDBOXES[200][2]) + len("celery@worker-12")
    ),
    "last byte": lambda table: len(table) - 1,
}


@pytest.mark.parametrize("delete", [False, True], ids=["bind", "deletion"])
@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_a_process_killed_writing_a_table_leaves_it_whole_with_every_earlier_binding(
    folder, delete, cut
):
    """kombu rewrote a table in place: a bind killed part way left the new table's start
    over the old one's end, still JSON but with a binding lost and a queue named from two
    (names of one length, as Celery's pidbox queues often are), or cut short; a deletion's
    was cut short. The table is now written aside and renamed into place: the old one
    stays until the new one is whole."""
    exchange, path = _fanout_table(folder, "killed", json.dumps(PIDBOXES))
    queue = "celery@worker-9999.celery.pidbox"
    with open(path) as table:
        earlier = json.load(table)
    if delete:
        earlier = [["", "", queue], *earlier]  # the bind before the deletion is whole
    written = json.dumps(
        [b for b in earlier if b[2] != queue] if delete else [["", "", queue], *earlier]
    )

    writer = multiprocessing.get_context("fork").Process(
        target=_killed_writing, args=(folder, exchange, queue, delete, cut(written))
    )
    writer.start()
    writer.join()

    with open(path) as table:
        assert json.load(table) == earlier
    assert writer.exitcode == -signal.SIGXFSZ


def test_a_part_a_killed_writer_left_is_removed_once_stale_and_not_before(folder):
    """A writer killed before its rename leaves its `.part` (readers skip it). A channel
    opening removes those older than STALE_PART_SECONDS only: a younger one may be a live
    writer's, about to be renamed into place."""
    exchange, path = _fanout_table(folder, "left", json.dumps(PIDBOXES[:3]))
    writer = multiprocessing.get_context("fork").Process(
        target=_killed_writing, args=(folder, exchange, "worker-new", False, 10)
    )
    writer.start()
    writer.join()
    assert writer.exitcode == -signal.SIGXFSZ
    control, queue = Path(folder["control_folder"]), Path(folder["data_folder_out"])
    (left,) = control.glob("left.exchange.*.part")
    queue.mkdir(exist_ok=True)
    message = queue / f"1_{uuid.uuid4()}.celery.msg.part"  # a message write killed alike
    message.write_bytes(b'{"bo')
    young = control / f"left.exchange.{uuid.uuid4()}.part"
    young.write_bytes(b"[]")
    stale = time.time() - STALE_PART_SECONDS - 5
    for file in (left, message, Path(path)):
        os.utime(file, (stale, stale))
    os.utime(young, (stale + 10, stale + 10))  # STALE_PART_SECONDS - 5 old: may be live

    with _channel(folder) as connection:
        connection.default_channel  # noqa: B018 (the channel opens)

        assert sorted(p.name for p in control.iterdir()) == sorted(["left.exchange", young.name])
        assert not message.exists()
        assert [q.queue for q in connection.default_channel.get_table("left")] == [
            q for _, _, q in PIDBOXES[:3]
        ]


def _bind_and_delete(options, start, failures, worker):
    """As a worker does: binds its queues, then deletes some of them."""
    exchange = Exchange("shared", "fanout")
    with _channel(options) as connection:
        channel = connection.default_channel
        start.wait()
        try:
            for n in range(20):
                Queue(f"worker{worker}-{n}", exchange)(channel).declare()
            for n in range(0, 20, 4):
                channel.queue_delete(f"worker{worker}-{n}")
        except Exception as error:
            failures.put(f"{type(error).__name__}: {error}")


def test_processes_binding_and_deleting_at_once_keep_each_others_bindings(folder):
    """Each rewrite is done under the table's lock on the table it replaces: a process that
    waited for the lock on a table already replaced takes it again on the new one, else
    its write would drop the other's binding."""
    _, path = _fanout_table(folder, "shared", json.dumps([["", "", "earlier"]]))
    workers = 4
    assert _failures_at_once(_bind_and_delete, folder, [(w,) for w in range(workers)]) == []
    with open(path) as table:
        kept = sorted(queue for _, _, queue in json.load(table))
    assert kept == sorted(
        ["earlier"] + [f"worker{w}-{n}" for w in range(workers) for n in range(20) if n % 4]
    )


def test_a_table_kombus_own_transport_writes_is_kept_and_can_be_written_by_it_again(folder):
    # An earlier release's processes (kombu's in-place writes) share the folder's tables.
    exchange = Exchange("older", "fanout")
    older = Connection(
        "filesystem://localhost/", transport=filesystem.Transport, transport_options=folder
    )
    with older, _channel(folder) as connection:
        for name in ("data_folder_in", "control_folder"):
            os.makedirs(folder[name])
        Queue("old-first", exchange)(older.default_channel).declare()
        Queue("new", exchange)(connection.default_channel).declare()
        Queue("old-second", exchange)(older.default_channel).declare()
        connection.default_channel.queue_delete("new")

        assert sorted(q.queue for q in connection.default_channel.get_table("older")) == [
            "old-first",
            "old-second",
        ]
