"""The promotion record: written atomically, read back, and a broken or foreign one refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmdeploy.errors import OperationError
from llmdeploy.release.record import PromotionRecord, read_record, record_path, write_record


def test_a_record_reads_back_as_written(tmp_path: Path) -> None:
    path = record_path(tmp_path / "promotions", "dev", "chat")
    record = PromotionRecord("dev", "chat", "blue", "green", "promoting", steps_done=(10, 50))
    write_record(path, record)
    assert path == tmp_path / "promotions" / "dev-chat.json"
    assert read_record(path, "dev", "chat") == record
    assert record.done_percent == 50
    assert [p.name for p in path.parent.iterdir()] == ["dev-chat.json"]  # no temp file left behind


def test_no_record_is_none_and_a_broken_one_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "dev-chat.json"
    assert read_record(path, "dev", "chat") is None
    path.write_text('{"env": "dev", "model": "chat", "source": "red"}')
    with pytest.raises(OperationError, match="delete the record and run the command again"):
        read_record(path, "dev", "chat")


GOOD = {"env": "dev", "model": "chat", "source": "blue", "target": "green", "state": "promoting"}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        # JSON reads 1e999 as infinity: int() of it used to escape as an OverflowError traceback.
        ({"steps_done": "__1e999__"}, "step inf is not a percentage"),
        ({"steps_done": [10, 500]}, "step 500 is not a percentage"),
        ({"steps_done": [True]}, "step True is not a percentage"),
        ({"steps_done": [10.5]}, "step 10.5 is not a percentage"),
        ({"steps_done": [50, 10]}, "do not rise"),
        ({"env": "prod"}, "it is the record of prod/chat, not of dev/chat"),
        ({"model": "code"}, "it is the record of dev/code, not of dev/chat"),
        ({"target": "blue"}, "its source and target are both blue"),
        ({"reason": 7}, "reason is not text"),
    ],
)
def test_a_record_that_cannot_be_right_is_refused(
    tmp_path: Path, changes: dict[str, object], why: str
) -> None:
    path = tmp_path / "dev-chat.json"
    body = json.dumps({**GOOD, "steps_done": [10], **changes}).replace('"__1e999__"', "[1e999]")
    path.write_text(body, encoding="utf-8")
    with pytest.raises(OperationError) as caught:
        read_record(path, "dev", "chat")
    assert why in str(caught.value)
    assert "delete the record and run the command again" in str(caught.value)
