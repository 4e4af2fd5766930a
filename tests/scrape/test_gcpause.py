from __future__ import annotations

import gc
import threading

import pytest

from agent.scrape import gcpause


@pytest.fixture(autouse=True)
def _restore_gc():  # type: ignore[no-untyped-def]
    was = gc.isenabled()
    yield
    gc.unfreeze()
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
    import weakref

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
