"""Group commit: waiting requests share one batch, results go back to their own caller, a bad one fails alone; in a
storm the writer waits a moment for company."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future

import pytest

from bot.ingestion.writer import GroupCommitWriter


def test_requests_share_batches_and_one_failure_stays_with_its_request() -> None:
    gate, entered = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    def commit(items: Sequence[str]) -> list[str]:
        entered.set()
        gate.wait(5)
        batches.append(list(items))
        if "bad" in items:
            raise ValueError("bad item")
        return [item.upper() for item in items]

    writer: GroupCommitWriter[str, str] = GroupCommitWriter(commit, max_batch=100)
    first = writer.submit(["a"])
    assert entered.wait(5)  # the writer is committing "a" and waits at the gate
    later = [writer.submit(["b", "c"]), writer.submit(["bad"]), writer.submit(["d"])]
    gate.set()
    assert first.result(5) == ["A"]
    assert later[0].result(5) == ["B", "C"]
    with pytest.raises(ValueError, match="bad item"):
        later[1].result(5)
    assert later[2].result(5) == ["D"]
    writer.stop()
    # The three waiting requests went in as one batch; after it failed, each was retried alone.
    assert batches[1] == ["b", "c", "bad", "d"]
    assert batches[2:] == [["b", "c"], ["bad"], ["d"]]


def test_after_a_crowded_batch_the_writer_waits_a_moment_for_company_but_a_lone_request_never_waits() -> None:
    gate, entered = threading.Event(), threading.Event()
    batches: list[list[str]] = []
    pauses: list[float] = []
    late: list[Future[list[str]]] = []

    def commit(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        if list(items) == ["a"]:
            entered.set()
            gate.wait(5)
        return [item.upper() for item in items]

    def sleep(seconds: float) -> None:  # a request arrives while the writer pauses
        pauses.append(seconds)
        late.append(writer.submit(["late"]))

    writer: GroupCommitWriter[str, str] = GroupCommitWriter(commit, gather_seconds=0.25, sleep=sleep)
    first = writer.submit(["a"])
    assert entered.wait(5)
    crowd = [writer.submit(["b"]), writer.submit(["c"])]
    gate.set()
    assert [first.result(5), *(f.result(5) for f in crowd)] == [["A"], ["B"], ["C"]]
    assert writer.submit(["d"]).result(5) == ["D"]
    assert late[0].result(5) == ["LATE"]
    writer.stop()
    # "a" was alone and "b", "c" came after a lone batch: no pause. After that crowd, "d" waited once, for "late".
    assert batches == [["a"], ["b", "c"], ["d", "late"]]
    assert pauses == [0.25]
