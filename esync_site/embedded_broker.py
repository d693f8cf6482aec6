"""The embedded Celery broker: kombu's filesystem transport, with every write made atomic.

kombu's own transport creates a message file and only then writes into it, and creates the
exchange table the same way. A worker that polls in between reads an empty file: the message
is moved away, fails to decode and is lost (a queued sync that never starts), or the sender
fails with a JSON error. Here every file is written under a name nobody reads, flushed, and
renamed into place, so a reader sees either nothing or the whole file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.transport.filesystem import LOCK_EX, exchange_queue_t, lock, unlock
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

# Names that begin with a dot are never taken for messages: kombu reads only `<name>.<queue>.msg`
# with a non-empty name before the first dot.
PARTIAL_PREFIX = ".partial-"


def write_atomically(path: Path, content: bytes) -> None:
    """Write `content` to `path` so that no reader ever sees part of it."""
    partial = path.parent / f"{PARTIAL_PREFIX}{uuid.uuid4().hex}"
    try:
        with open(partial, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ChannelError(f"Cannot write {str(path)!r}") from exc


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        write_atomically(Path(self.data_folder_out) / name, str_to_bytes(dumps(payload)))

    @contextmanager
    def _exchange_table(self, exchange) -> Iterator[tuple[Path, list]]:
        """The exchange's queue table, under a lock on a file of its own (the table is renamed
        over, so it cannot carry the lock itself)."""
        table = self._exchange_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(table.with_name(table.name + ".lock"), "ab") as lock_file:
            lock(lock_file, LOCK_EX)
            try:
                queues = []
                if table.exists():
                    queues = [exchange_queue_t(*q)
                              for q in loads(bytes_to_str(table.read_bytes()))]
                yield table, queues
            finally:
                unlock(lock_file)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        wanted = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._exchange_table(exchange) as (table, queues):
            if wanted not in queues:
                write_atomically(table, str_to_bytes(dumps([wanted, *queues])))

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        # kombu's virtual channel forgets the binding; the table on disk is rewritten here.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern,
                                                *args, **kwargs)
        unwanted = exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._exchange_table(exchange) as (table, queues):
            if unwanted in queues:
                write_atomically(table, str_to_bytes(dumps(
                    [q for q in queues if q != unwanted])))


class Transport(filesystem.Transport):
    Channel = Channel
