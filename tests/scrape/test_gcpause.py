from __future__ import annotations

import gc
import threading
import weakref

import pytest

from agent.scrape import gcpause


@pytest.fixture(autouse=True)
def _restore_gc():  # type: ignore[no-untyped-def]
    was = gc.isenabled()
    yield
    gc.unfreeze()
    gcpause._frozen = False
    gcpause._full_mark = -1
    if was:
        gc.enable()
    else:
        gc.disable()


def test_paused_disables_and_restores() -> None:
    gc.enable()
    with gcpause.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_nested_pause_reenables_only_at_the_outermost_exit() -> None:
    gc.enable()
    with gcpause.paused():
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_reenabled_after_an_exception() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gcpause.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_collector_disabled_by_someone_else_stays_disabled() -> None:
    gc.disable()
    with gcpause.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_pauses_in_threads_share_one_pause() -> None:
    gc.enable()
    inside = threading.Event()
    release = threading.Event()
    states: list[bool] = []

    def worker() -> None:
        with gcpause.paused():
            inside.set()
            release.wait(10)
        states.append(gc.isenabled())

    t = threading.Thread(target=worker)
    with gcpause.paused():
        t.start()
        assert inside.wait(10)
    # the main thread's pause ended first: the worker's keeps the collector off
    assert not gc.isenabled()
    release.set()
    t.join(10)
    assert gc.isenabled()
    assert states == [True]


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_cycles_made_during_a_pause_are_collected_after_it() -> None:
    gc.enable()
    with gcpause.paused():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc.collect()  # disabled for automatic runs only: an explicit collection still works
        assert ref() is None
        c, d = _Node(), _Node()
        c.other, d.other = d, c
        ref = weakref.ref(c)
        del c, d
    assert gc.get_freeze_count() == 0  # nothing is frozen: the next collection sees it
    gc.collect()
    assert ref() is None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_burst_is_frozen_until_the_next_pause_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcpause, "FREEZE_MIN", 5_000)
    gc.enable()
    gc.collect()
    with gcpause.paused():
        kept = [[] for _ in range(10_000)]  # long-lived containers: a first scrape's caches
        ref = _cycle()  # garbage already (a finished request's cycle)
    assert gc.get_freeze_count() >= 10_000
    gc.collect()
    assert ref() is not None  # frozen: held until the next pause ends
    with gcpause.paused():
        pass
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert ref() is None
    assert len(kept) == 10_000


def test_a_small_pause_freezes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcpause, "FREEZE_MIN", 5_000)
    gc.enable()
    gc.collect()
    with gcpause.paused():
        kept = [[] for _ in range(100)]
    assert gc.get_freeze_count() == 0 and len(kept) == 100


def test_a_burst_after_an_unfreeze_collects_the_last_bursts_garbage_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpause, "FREEZE_MIN", 5_000)
    gc.enable()
    gc.collect()
    with gcpause.paused():
        first = [[] for _ in range(10_000)]
        ref = _cycle()
    with gcpause.paused():  # unfreezes the first burst
        pass
    with gcpause.paused():
        second = [[] for _ in range(10_000)]
    # the second burst froze, but not before the first one's garbage was collected
    assert gc.get_freeze_count() >= 10_000
    assert ref() is None
    assert len(first) == len(second) == 10_000
