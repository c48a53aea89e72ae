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
* An exchange's table of bindings appears whole. kombu creates its file, then
  locks and writes it: a process publishing at that moment read the empty file
  and failed with JSONDecodeError (on a fresh broker folder, when the web
  processes' and the workers' first publishes bind their queues at once; seen
  once in bench/send.py). Here the first table is written under another name
  and linked into place; later bindings are merged in under kombu's lock. A
  table that is not JSON (cut short by a crash) is made again from the
  bindings still readable in it and the process's own by whichever read finds
  it so (a publish, a bind, a queue's deletion), not left to fail every one of
  them.
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
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads


class Channel(filesystem.Channel):
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
        except ValueError:
            self._remake_table(exchange)
            return super().get_table(exchange)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        self._folders()
        file = self._exchange_file(exchange)
        if not file.exists():
            binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            _create_whole(file, dumps([binding]).encode())
        # Adds the binding under the file's lock, unless the file made just now holds it.
        try:
            super()._queue_bind(exchange, routing_key, pattern, queue)
        except ValueError:
            # A process started after the crash binds its queues before it reads a table.
            self._remake_table(exchange)
            super()._queue_bind(exchange, routing_key, pattern, queue)

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        try:
            super()._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        except ValueError:
            binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            self._remake_table(exchange, leaving=binding)

    def _remake_table(self, exchange, leaving=None) -> None:
        """Replaces an exchange's table that is not JSON (a file cut short by a crash while
        kombu rewrote it in place: left there, every bind, publish and delete on the
        exchange fails until someone deletes it) with the bindings still readable in it
        (`_readable_bindings`) and this process's own, whole. Other processes' bindings
        lost with the part of the file that cannot be read stay lost until they bind again
        (a worker at its start): on a fanout exchange (Celery's remote control) such a
        worker gets no broadcast meanwhile. Done under the old file's lock and only while
        that file is still in place and still not JSON: processes finding it at once keep
        the table the first one made and add their bindings to it."""
        file = self._exchange_file(exchange)
        own = [
            filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            for routing_key, pattern, queue in self.state.exchanges.get(exchange, {}).get(
                "table", []
            )
        ]
        try:
            with file.open("rb") as old:
                filesystem.lock(old, filesystem.LOCK_EX)  # released when closed
                if _identity(os.stat(file)) != _identity(os.fstat(old.fileno())):
                    return  # another process remade it first
                data = old.read()
                try:
                    loads(data)
                    return  # whole after all
                except ValueError:
                    pass
                table = list(dict.fromkeys([*_readable_bindings(data), *own]))
                _replace_whole(file, dumps([b for b in table if b != leaving]).encode())
        except FileNotFoundError:
            pass  # deleted meanwhile: the next bind makes it again


# One binding as kombu writes it: a list of three JSON strings (routing key, pattern, queue).
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_BINDING = re.compile(rf"\[\s*{_JSON_STRING}\s*,\s*{_JSON_STRING}\s*,\s*{_JSON_STRING}\s*\]")


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
    return [
        filesystem.exchange_queue_t(*binding)
        for binding in bindings
        if isinstance(binding, list)
        and len(binding) == 3
        and all(isinstance(part, str) for part in binding)
    ]


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _create_whole(file: Path, data: bytes) -> None:
    """`file` with `data`, unless it exists: written under another name, then linked
    into place, so no reader ever opens it empty. If another process made it first,
    or the filesystem has no hard links, kombu's own write follows."""
    partial = file.with_name(f"{file.name}.{uuid.uuid4()}.part")
    try:
        partial.write_bytes(data)
        os.link(partial, file)
    except OSError:
        pass
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
