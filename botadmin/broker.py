"""kombu's filesystem transport, made fit to be the default broker.

* A message appears whole. kombu writes a message file in place: it creates
  the file, then writes it. A worker listing the folder in between moves the
  empty file away, reads nothing, and dies with "Unrecoverable error:
  JSONDecodeError" (celery/kombu issue 1551; seen in our CI). Here a message is
  written under a name no reader picks up and renamed into place, which is
  atomic on POSIX filesystems.
* A message is taken by renaming it into the processed folder, on the same
  filesystem: one rename, atomic, so two workers never both get it. (kombu
  moves it to the temporary folder, a copy and a delete when /tmp is another
  filesystem.)
* An exchange's table of bindings appears whole, and a crash leaves it whole.
  kombu creates its file, then locks and writes it: a process publishing at
  that moment read the empty file and failed with JSONDecodeError (on a fresh
  broker folder, when the web processes' and the workers' first publishes bind
  their queues at once; seen once in bench/send.py). And kombu rewrites it in
  place at each bind and deletion: a process killed in the middle left it cut
  short, or still JSON with a binding lost and a queue's name made of two.
  Here every table is written under another name and linked (the first) or
  renamed into place, under kombu's lock on the table it replaces
  (`Channel._change_table`). A table an earlier release left not JSON is made
  again from the bindings still readable in it and the process's own by
  whichever read finds it so (a publish, a bind, a queue's deletion), not left
  to fail every one of them.
* A write killed before its rename leaves its `.part` file behind (readers skip it):
  a channel removes those older than `STALE_PART_SECONDS` when it opens, never one a
  live writer may still be about to rename.
* A deleted folder is made again. `rm -rf var/broker` while botadmin runs used
  to crash the worker (and `make run` with it); now the messages in it are
  lost wake-ups, which the sweepers recover.

`CELERY_BROKER_URL=filesystem://…` (the default) selects this transport in
botadmin/settings.py.
"""

import json
import os
import re
import uuid
from functools import cached_property
from pathlib import Path
from queue import Empty
from time import monotonic, time

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

# A `.part` file this old was left by a writer killed before its rename: a live one
# renames (or links) it into place right after writing it, within milliseconds.
STALE_PART_SECONDS = 10 * 60


class Channel(filesystem.Channel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Where `_put` and the table writes leave their parts; each worker and web
        # process opens a channel at its start, so leftovers go within a restart.
        for folder in {str(self.data_folder_out), str(self.control_folder)}:
            _remove_stale_parts(folder, STALE_PART_SECONDS)

    def _folders(self) -> None:
        """Make the folders again; if they are being deleted right now, the next call will."""
        try:
            for folder in (self.data_folder_in, self.data_folder_out, self.processed_folder):
                os.makedirs(folder, exist_ok=True)
            self.control_folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass

    def _put(self, queue, payload, **kwargs):
        # kombu's name, so its reader's order (oldest first) and queue filter hold.
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # not "<queue>.msg": readers skip it
        data = dumps(payload).encode()
        for attempt in (1, 2):
            try:
                with open(partial, "wb") as f:
                    f.write(data)
                os.replace(partial, final)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise ChannelError(f"Cannot add file {final!r} to directory") from None
                self._folders()
            except OSError as exc:
                raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        # One listing serves many gets: a backlog of thousands of files is listed
        # once, not once per message. Files newer than the listing wait for the next.
        listed = self._listed.get(queue)
        if not listed:
            listed = self._listed[queue] = self._list(queue)
        while listed:
            name = listed.pop()
            taken = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except FileNotFoundError:
                if not os.path.isdir(self.processed_folder):
                    self._folders()
                continue  # another worker took it (or the folder was deleted)
            try:
                with open(taken, "rb") as f:
                    payload = f.read()
                os.remove(taken)
            except FileNotFoundError:
                continue  # the folder was deleted while we read
            except OSError as exc:
                raise ChannelError(f"Cannot read file {taken!r} from queue.") from exc
            return loads(payload)
        raise Empty()

    @cached_property
    def _listed(self) -> dict[str, list[str]]:
        return {}

    def _list(self, queue) -> list[str]:
        """The queue's message files, oldest last."""
        wanted = f"{queue}.msg"
        try:
            names = os.listdir(self.data_folder_in)
        except FileNotFoundError:
            self._folders()
            return []
        return sorted((name for name in names if name.partition(".")[2] == wanted), reverse=True)

    def _size(self, queue):
        return len(self._list(queue))

    def _purge(self, queue):
        self._listed.pop(queue, None)
        try:
            return super()._purge(queue)
        except FileNotFoundError:
            self._folders()
            return 0

    def get_table(self, exchange):
        """The exchange's bindings, from the control folder. If the folder was deleted,
        this process's own bindings, written back: else every message published until
        a restart would be routed nowhere."""
        try:
            table = self._read_table(exchange)
        except ChannelError:
            table = []
        if not table:
            table = self.state.exchanges.get(exchange, {}).get("table", [])
            for binding in table:
                self._queue_bind(exchange, *binding)
        return table

    def _read_table(self, exchange):
        try:
            return super().get_table(exchange)
        except (ValueError, TypeError):  # not JSON, or JSON that is no table
            self._change_table(exchange, lambda table: table)
            return super().get_table(exchange)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        file = self._exchange_file(exchange)
        for _attempt in range(3):  # the folder or the table deleted meanwhile: made again
            self._folders()
            try:
                if not file.exists() and _create_whole(file, dumps([binding]).encode()):
                    return
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ChannelError(f"Cannot write {file}") from exc
            # kombu's order: the latest binding first.
            if self._change_table(
                exchange, lambda table: table if binding in table else [binding, *table]
            ):
                return
        raise ChannelError(f"Cannot write {file}: deleted as it was written")

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # kombu's own purges the queue (virtual.Channel's), then rewrites the table in
        # place: only the purge is kept.
        super(filesystem.Channel, self)._delete(
            queue, exchange, routing_key, pattern, *args, **kwargs
        )
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: [b for b in table if b != binding])

    def _change_table(self, exchange, change) -> bool:
        """Replaces an exchange's table by `change(bindings)`, written whole under another
        name and renamed into place: a process killed at any point leaves the old table or
        the new one, which readers open whole (kombu rewrote it in place: a crash in the
        middle left a table still JSON with a binding lost or a queue's name made of two,
        or cut short). False if there is no table.

        Done under kombu's lock on the table file, so binds and deletions of other
        processes wait for one another. A rename replaces the file a waiting process has
        opened and locked: it reads nothing from that one, and locks the file now in place,
        which holds the change of the process before it. A process of an earlier release
        (kombu's own writes, in place) that waited so writes into the replaced file, and its
        binding is lost until it binds again: only while two releases share the folder.

        A table that is not JSON (cut short by a crash while an earlier release or kombu's
        own transport rewrote it in place: left there, every bind, publish and deletion on
        the exchange would fail until someone deleted it) is made again with the bindings
        still readable in it (`_readable_bindings`) and this process's own. Other processes'
        bindings lost with the part that cannot be read stay lost until they bind again (a
        worker at its start): on a fanout exchange (Celery's remote control) such a worker
        gets no broadcast meanwhile."""
        file = self._exchange_file(exchange)
        while True:
            try:
                with file.open("rb") as current:
                    filesystem.lock(current, filesystem.LOCK_EX)  # released when closed
                    if _identity(os.stat(file)) != _identity(os.fstat(current.fileno())):
                        continue  # replaced while we waited: the new one holds its change
                    data = current.read()
                    try:
                        table, torn = _table(data), False
                    except ValueError:
                        readable = [*_readable_bindings(data), *self._own(exchange)]
                        table, torn = list(dict.fromkeys(readable)), True
                    changed = change(table)
                    if torn or changed != table:
                        _replace_whole(file, dumps(changed).encode())
                    return True
            except FileNotFoundError:
                return False  # also when the folder is deleted as we write
            except OSError as exc:
                raise ChannelError(f"Cannot write {file}") from exc

    def _own(self, exchange) -> list[filesystem.exchange_queue_t]:
        """The bindings this process made on the exchange (kombu keeps them per process)."""
        return [
            filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            for routing_key, pattern, queue in self.state.exchanges.get(exchange, {}).get(
                "table", []
            )
        ]


# One binding as kombu writes it: a list of three JSON strings (routing key, pattern, queue).
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_BINDING = re.compile(rf"\[\s*{_JSON_STRING}\s*,\s*{_JSON_STRING}\s*,\s*{_JSON_STRING}\s*\]")


def _table(data: bytes) -> list[filesystem.exchange_queue_t]:
    """The bindings of a whole table; ValueError if `data` is not one."""
    table = loads(data)
    if not isinstance(table, list) or not all(map(_is_binding, table)):
        raise ValueError("not a table of bindings")
    return [filesystem.exchange_queue_t(*binding) for binding in table]


def _readable_bindings(data: bytes) -> list[filesystem.exchange_queue_t]:
    """The bindings a table that is not JSON still holds. kombu rewrites a table in place:
    a bind writes the longer table over the old one, a deletion the shorter one and then
    cuts the file to it. A whole table followed by more is a deletion stopped before the
    cut: the table is what it wrote (what follows, the old table's end, may hold the
    binding it deleted). Otherwise every binding written whole in it, the new table's
    first ones and the old one's last ones: a crash in the middle of a write loses at most
    the few beside the point where it stopped."""
    text = data.decode("utf-8", "replace")
    try:
        table, _end = json.JSONDecoder().raw_decode(text)
        bindings = table if isinstance(table, list) else []
    except ValueError:
        bindings = [json.loads(found[0]) for found in _BINDING.finditer(text)]
    return [filesystem.exchange_queue_t(*binding) for binding in bindings if _is_binding(binding)]


def _is_binding(binding) -> bool:
    return (
        isinstance(binding, list)
        and len(binding) == 3
        and all(isinstance(part, str) for part in binding)
    )


def _remove_stale_parts(folder: str, older_than: float) -> None:
    """Removes the `.part` files in `folder` last written more than `older_than` seconds
    ago."""
    try:
        entries = list(os.scandir(folder))
    except OSError:  # not made yet, or unreadable: the writes say so, not this cleanup
        return
    now = time()
    for entry in entries:
        if not entry.name.endswith(".part"):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                os.remove(entry.path)
        except OSError:  # removed meanwhile by another process, or not ours to remove
            pass


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _create_whole(file: Path, data: bytes) -> bool:
    """`file` with `data`, unless it exists (False): written under another name, then
    linked into place, so no reader ever opens it empty and a process making it at the
    same time does not replace it. On a filesystem without hard links it is renamed into
    place if it still does not exist: two processes making it at once may then both
    succeed, and the first one's binding is lost until it binds again."""
    partial = file.with_name(f"{file.name}.{uuid.uuid4()}.part")
    try:
        partial.write_bytes(data)
        try:
            os.link(partial, file)
        except FileExistsError:
            return False
        except OSError:
            if file.exists():
                return False
            os.replace(partial, file)
        return True
    finally:
        partial.unlink(missing_ok=True)


def _replace_whole(file: Path, data: bytes) -> None:
    """`file` replaced by one holding `data`, written under another name and renamed into
    place: a reader opens the old file or the new one, never a part."""
    partial = file.with_name(f"{file.name}.{uuid.uuid4()}.part")
    try:
        partial.write_bytes(data)
        os.replace(partial, file)
    finally:
        partial.unlink(missing_ok=True)


class Transport(filesystem.Transport):
    Channel = Channel
