"""The server's registry of repositories: who is told of each change, and in what order."""

from __future__ import annotations

import threading

import pytest

from service.config import index_options
from service.errors import InvalidRequest
from service.rpc import Registry


def test_subscribers_hear_each_change_once_in_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    reg = Registry(index_options, allowed=[tmp_path])
    reg.add(a, trusted=True)
    heard = []
    held = reg.subscribe(lambda e: heard.append(("added", e.id)), lambda e: heard.append(("removed", e.id)))
    assert [e.id for e in held] == ["a"]  # what it holds when the subscriber starts listening
    reg.add(str(b))
    reg.add(str(b))  # already there: nothing new to hear
    reg.add(str(a))
    reg.remove("b")
    with pytest.raises(Exception, match="no repository 'b'"):
        reg.remove("b")
    assert heard == [("added", "b"), ("removed", "b")]

    # A failing subscriber fails the call, as it raised.
    def refuse(entry):
        raise InvalidRequest(f"cannot follow {entry.id}")

    reg.subscribe(refuse, lambda e: None)
    with pytest.raises(InvalidRequest, match="cannot follow b"):
        reg.add(str(b))


def test_concurrent_adds_and_removes_are_heard_in_the_order_they_happened(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    reg = Registry(index_options, allowed=[tmp_path])
    events: list[str] = []
    inside = threading.Event()

    def added(entry):
        inside.set()
        threading.Event().wait(0.05)  # a slow subscriber (a watcher taking its lock)
        events.append("added")

    reg.subscribe(added, lambda e: events.append("removed"))
    errors = []

    def churn():
        for _ in range(20):
            try:
                reg.add(str(root))
                reg.remove("r")
            except Exception as exc:  # noqa: BLE001 -- the other thread removed it first
                errors.append(exc)

    threads = [threading.Thread(target=churn) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # what the subscriber heard replays to what the registry holds
    assert all(x != y for x, y in zip(events, events[1:])), events
    assert (events[-1] == "added") == any(e.id == "r" for e in reg.all())
