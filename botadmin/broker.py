"""kombu's filesystem transport, with messages that appear whole.

kombu writes a message file in place: it creates the file, then writes it.
A worker listing the folder in between moves the empty file away, reads
nothing, and dies with "Unrecoverable error: JSONDecodeError" (celery/kombu
issue 1551; seen in our CI). Here a message is written under a name no reader
picks up and renamed into place, which is atomic on POSIX filesystems.

`CELERY_BROKER_URL=filesystem://…` (the default) selects this transport in
botadmin/settings.py.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # kombu's name, so its reader's order (oldest first) and queue filter hold.
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # not "<queue>.msg": readers skip it
        try:
            with open(partial, "wb") as f:
                f.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
