"""Group commit: waiting requests share one batch, results go back to their own caller, a bad one fails alone; in a
storm the writer waits for the event loop to hand over the requests it has read."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from bot.ingestion.writer import GroupCommitWriter


async def _queued(writer: GroupCommitWriter[str, str], *requests: list[str]) -> list[asyncio.Task[list[str]]]:
    """Submit each request as its own task and return once all of them are queued, in this order."""
    tasks = [asyncio.create_task(writer.submit(items)) for items in requests]
    await asyncio.sleep(0)  # each task runs up to its wait for the writer
    return tasks


class GatedCommit:
    """A commit function that signals `entered` and then holds at `gate`, so a test can queue requests behind a batch
    in flight; it records every batch and fails a batch holding "bad"."""

    def __init__(self) -> None:
        self.gate, self.entered = threading.Event(), threading.Event()
        self.batches: list[list[str]] = []

    def __call__(self, items: Sequence[str]) -> list[str]:
        self.entered.set()
        self.gate.wait(5)
        self.batches.append(list(items))
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]


def test_requests_share_batches_and_one_failure_stays_with_its_request() -> None:
    commit = GatedCommit()
    gate, entered, batches = commit.gate, commit.entered, commit.batches
    writer: GroupCommitWriter[str, str] = GroupCommitWriter(commit, max_batch=100)

    async def storm() -> None:
        [first] = await _queued(writer, ["a"])
        assert await asyncio.to_thread(entered.wait, 5)  # the writer is committing "a" and waits at the gate
        later = await _queued(writer, ["b", "c"], ["bad"], ["d"])
        gate.set()
        assert await first == ["A"]
        assert await later[0] == ["B", "C"]
        with pytest.raises(ValueError, match="bad item"):
            await later[1]
        assert await later[2] == ["D"]

    asyncio.run(storm())
    writer.stop()
    # The three waiting requests went in as one batch; after it failed, each was retried alone.
    assert batches[1] == ["b", "c", "bad", "d"]
    assert batches[2:] == [["b", "c"], ["bad"], ["d"]]


def test_after_a_crowded_batch_the_writer_waits_for_company_but_a_lone_request_never_waits() -> None:
    gate, entered = threading.Event(), threading.Event()
    batches: list[list[str]] = []
    pauses: list[float] = []
    late: list[asyncio.Future[list[str]]] = []

    def commit(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        if list(items) == ["a"]:
            entered.set()
            gate.wait(5)
        return [item.upper() for item in items]

    def catch_up(_loop: asyncio.AbstractEventLoop, seconds: float) -> None:  # a request arrives while the writer waits
        pauses.append(seconds)
        late.append(asyncio.wrap_future(asyncio.run_coroutine_threadsafe(writer.submit(["late"]), loop), loop=loop))
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(5)  # by now "late" is queued

    writer: GroupCommitWriter[str, str] = GroupCommitWriter(commit, gather_seconds=0.25, catch_up=catch_up)

    async def storm() -> None:
        [first] = await _queued(writer, ["a"])
        assert await asyncio.to_thread(entered.wait, 5)
        crowd = await _queued(writer, ["b"], ["c"])
        gate.set()
        assert [await first, *[await task for task in crowd]] == [["A"], ["B"], ["C"]]
        assert await writer.submit(["d"]) == ["D"]
        assert await late[0] == ["LATE"]

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(storm())
    finally:
        loop.close()
    writer.stop()
    # "a" was alone and "b", "c" came after a lone batch: no pause. After that crowd, "d" waited once, for "late".
    assert batches == [["a"], ["b", "c"], ["d", "late"]]
    assert pauses == [0.25]


def test_the_writer_gathers_what_a_busy_event_loop_still_has_to_hand_over() -> None:
    # After a crowded batch, "d" is queued while the loop is still busy with the next request (parsing it, in a
    # server) for longer than any fixed pause would wait; the writer waits for the loop to run what it had ready,
    # so "late" joins "d" in one batch.
    commit = GatedCommit()
    writer: GroupCommitWriter[str, str] = GroupCommitWriter(commit, gather_seconds=30)

    async def late_request() -> list[str]:
        time.sleep(0.3)  # the loop is busy: the writer has taken "d" meanwhile and is waiting for the loop
        return await writer.submit(["late"])

    async def storm() -> None:
        [first] = await _queued(writer, ["a"])
        assert await asyncio.to_thread(commit.entered.wait, 5)
        crowd = await _queued(writer, ["b"], ["c"])
        commit.gate.set()
        assert [await first, *[await task for task in crowd]] == [["A"], ["B"], ["C"]]
        d, late = asyncio.create_task(writer.submit(["d"])), asyncio.create_task(late_request())
        assert (await d, await late) == (["D"], ["LATE"])

    asyncio.run(storm())
    writer.stop()
    assert commit.batches == [["a"], ["b", "c"], ["d", "late"]]


def test_a_request_whose_caller_gave_up_is_committed_all_the_same() -> None:
    commit = GatedCommit()
    gate, entered, batches = commit.gate, commit.entered, commit.batches
    writer: GroupCommitWriter[str, str] = GroupCommitWriter(commit)

    async def storm() -> None:
        [gone] = await _queued(writer, ["gone"])
        assert await asyncio.to_thread(entered.wait, 5)
        gone.cancel()  # a client that disconnects while its alert is being committed
        gate.set()
        assert await writer.submit(["next"]) == ["NEXT"]
        assert gone.cancelled()

    asyncio.run(storm())
    writer.stop()
    assert batches == [["gone"], ["next"]]
