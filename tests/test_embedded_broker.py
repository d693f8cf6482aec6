"""The embedded broker never lets a worker see half a message or half an exchange table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection

from esync_site import embedded_broker

TRANSPORT = "esync_site.embedded_broker:Transport"


def broker_options(folder: Path) -> dict:
    queue = folder / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(queue), "data_folder_out": str(queue),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"), "store_processed": False,
            "polling_interval": 0.01}


@pytest.fixture
def channel(tmp_path):
    with Connection("filesystem://", transport=TRANSPORT,
                    transport_options=broker_options(tmp_path)) as connection:
        yield connection.default_channel


def test_a_worker_polling_while_a_run_is_queued_sees_nothing_until_the_message_is_whole(
        channel, monkeypatch):
    seen_mid_write = []
    real_fsync = embedded_broker.os.fsync

    def poll_then_fsync(descriptor):
        try:
            seen_mid_write.append(channel._get("esync"))
        except Empty:
            seen_mid_write.append("nothing")
        real_fsync(descriptor)

    monkeypatch.setattr(embedded_broker.os, "fsync", poll_then_fsync)
    channel._put("esync", {"task": "run_profile", "run": 7})

    assert seen_mid_write == ["nothing"]
    assert channel._get("esync") == {"task": "run_profile", "run": 7}
    with pytest.raises(Empty):
        channel._get("esync")


def test_a_sender_reading_the_exchange_table_while_a_worker_binds_sees_the_old_table_whole(
        channel, monkeypatch):
    channel._queue_bind("esync", "first", None, "first")
    seen_mid_write = []
    real_fsync = embedded_broker.os.fsync

    def read_then_fsync(descriptor):
        seen_mid_write.append([q.queue for q in channel.get_table("esync")])
        real_fsync(descriptor)

    monkeypatch.setattr(embedded_broker.os, "fsync", read_then_fsync)
    channel._queue_bind("esync", "second", None, "second")
    monkeypatch.undo()

    assert seen_mid_write == [["first"]]
    assert sorted(q.queue for q in channel.get_table("esync")) == ["first", "second"]
    channel._delete("first", "esync", "first", None)
    assert [q.queue for q in channel.get_table("esync")] == ["second"]


SENDER = """
import sys
from kombu import Connection
from tests.test_embedded_broker import TRANSPORT, broker_options
from pathlib import Path
with Connection("filesystem://", transport=TRANSPORT,
                transport_options=broker_options(Path(sys.argv[1]))) as connection:
    queue = connection.SimpleQueue("esync")
    for number in range(int(sys.argv[3])):
        queue.put({"sender": sys.argv[2], "number": number})
"""


def test_three_senders_and_a_busy_worker_lose_nothing_and_repeat_nothing(tmp_path):
    senders, each = 3, 300
    options = broker_options(tmp_path)
    received = []
    with Connection("filesystem://", transport=TRANSPORT,
                    transport_options=options) as connection:
        queue = connection.SimpleQueue("esync")
        processes = [subprocess.Popen([sys.executable, "-c", SENDER, str(tmp_path), str(n),
                                       str(each)], cwd=Path(__file__).parent.parent)
                     for n in range(senders)]
        while len(received) < senders * each:
            message = queue.get(timeout=30)
            received.append((message.payload["sender"], message.payload["number"]))
            message.ack()
        assert [process.wait(timeout=30) for process in processes] == [0] * senders

    assert sorted(received) == [(str(n), i) for n in range(senders) for i in range(each)]
