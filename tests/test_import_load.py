"""An appointment import beside live SMS webhooks on SQLite: every webhook is answered."""

from __future__ import annotations

from pathlib import Path

from bench.import_load import import_under_webhooks

ROWS = 1500  # bench/import_load.py runs 20,000


async def test_webhooks_keep_answering_during_a_large_import(tmp_path: Path) -> None:
    figures = await import_under_webhooks(tmp_path, ROWS)
    print(figures.summary())  # shown with -s; the worst wait is the figure to watch
    assert figures.returncode == 0, figures.stderr[-2000:]
    assert figures.stdout.endswith(
        f"{ROWS} created, 0 updated, 0 unchanged, 0 cancelled, 0 skipped\n"
    )
    assert figures.appointments == ROWS
    assert len(figures.statuses) >= 10  # the webhooks really ran beside the import
    assert set(figures.statuses) == {200}
    assert figures.logged_inbound == len(figures.statuses)  # no message lost
