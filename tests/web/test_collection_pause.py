"""collection_paused: the cyclic collector held off inside, back on after the last block."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from addin.web.collection_pause import collection_paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """Leave the collector as the test found it."""
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    """Also after an exception in the block."""
    gc.enable()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), collection_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_nested_and_concurrent_blocks_resume_only_when_the_last_ends() -> None:
    """A request that ends first does not turn the collector on under another one."""
    gc.enable()
    inside = threading.Event()
    leave = threading.Event()

    def other_request() -> None:
        """Hold a pause until told to leave."""
        with collection_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other_request)
    thread.start()
    assert inside.wait(10)
    with collection_paused():
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled(), "the other request still holds the pause"
    leave.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    """Someone else turned it off: the pause does not turn it on."""
    gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_as_a_decorator_each_call_pauses() -> None:
    """The views use it as a decorator."""
    gc.enable()

    @collection_paused()
    def view() -> bool:
        """Report whether the collector runs."""
        return gc.isenabled()

    assert view() is False
    assert view() is False
    assert gc.isenabled()
