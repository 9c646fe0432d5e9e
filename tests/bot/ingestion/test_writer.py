"""Group commit: waiting requests share one batch, results go back to their own caller, a bad one fails alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence

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
