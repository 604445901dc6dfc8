"""The promotion record: written atomically, read back, and a broken one explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.errors import OperationError
from llmdeploy.release.record import PromotionRecord, read_record, record_path, write_record


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    path = record_path(tmp_path / "promotions", "dev", "chat")
    record = PromotionRecord("dev", "chat", "blue", "green", "promoting", steps_done=(10, 50))
    write_record(path, record)
    assert path == tmp_path / "promotions" / "dev-chat.json"
    assert read_record(path) == record
    assert record.done_percent == 50
    assert [p.name for p in path.parent.iterdir()] == ["dev-chat.json"]  # no temp file left behind


def test_no_record_is_none_and_a_broken_one_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "dev-chat.json"
    assert read_record(path) is None
    path.write_text('{"env": "dev", "model": "chat", "source": "red"}')
    with pytest.raises(OperationError, match="delete the record and run the command again"):
        read_record(path)
