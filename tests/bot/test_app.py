"""The composition root's process-wide duties."""

from __future__ import annotations

import gc

from tests.support.herald import make_settings, running_herald


def test_a_running_app_keeps_what_it_started_with_out_of_garbage_collection_until_it_stops(sqlite_url: str) -> None:
    """Full collections would otherwise walk every object of the started app, pausing an alert storm for 0.1 s."""
    with running_herald(make_settings(sqlite_url)):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
