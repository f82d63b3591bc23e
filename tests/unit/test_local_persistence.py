"""The local state journal: what counts as a change, a torn tail after a kill, replay order, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stratoflow_local.persistence import RequestJournal, StreamCheckpoints, is_mutation


def environ(method: str = "POST", path: str = "/", target: str | None = None, query: str = "") -> dict[str, Any]:
    values: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}
    if target is not None:
        values["HTTP_X_AMZ_TARGET"] = target
    return values


def test_writes_are_changes_and_reads_are_not() -> None:
    for operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "CreateTable"):
        assert is_mutation(environ(target=f"DynamoDB_20120810.{operation}"), b"")
    for operation in ("GetItem", "Query", "Scan", "DescribeTable", "ListTables", "BatchGetItem"):
        assert not is_mutation(environ(target=f"DynamoDB_20120810.{operation}"), b"")
    for operation in ("GetRecords", "GetShardIterator", "DescribeStream"):
        assert not is_mutation(environ(target=f"DynamoDBStreams_20120810.{operation}"), b"")
    assert is_mutation(environ("POST", "/schedules/t-1"), b"{}")  # Scheduler's REST protocol: create
    assert is_mutation(environ("DELETE", "/schedules/t-1"), b"")
    assert not is_mutation(environ("GET", "/schedules"), b"")
    assert is_mutation(environ(), b"Action=SendMessage&QueueUrl=x")  # the query protocol
    assert not is_mutation(environ(), b"Action=GetQueueAttributes&QueueUrl=x")
    assert not is_mutation(environ(target="AmazonSQS.ReceiveMessage"), b"{}")  # polled all the time; transient
    assert is_mutation(environ(target="AmazonSQS.DeleteMessage"), b"{}")
    assert not is_mutation(environ("POST", "/moto-api/reset"), b"")


def recorded(journal: RequestJournal, count: int) -> None:
    journal.open()
    for number in range(count):
        journal.record(environ(target="DynamoDB_20120810.PutItem"), json.dumps({"n": number}).encode())
    journal.close()


def test_a_torn_last_line_is_dropped_and_cut_off_the_file(tmp_path: Path) -> None:
    journal = RequestJournal(tmp_path)
    recorded(journal, 3)
    whole = journal.path.read_bytes()
    journal.path.write_bytes(whole + b'{"method": "POST", "pa')  # a kill in the middle of a write
    assert len(journal.entries()) == 3
    assert journal.path.read_bytes() == whole


def test_replay_feeds_the_requests_in_their_order_with_their_bodies(tmp_path: Path) -> None:
    journal = RequestJournal(tmp_path)
    recorded(journal, 5)
    seen: list[int] = []

    def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        assert environ["HTTP_X_AMZ_TARGET"] == "DynamoDB_20120810.PutItem"
        seen.append(json.loads(environ["wsgi.input"].read())["n"])
        start_response("200 OK", [])
        return [b"{}"]

    assert journal.replay(application) == 5
    assert seen == [0, 1, 2, 3, 4]


def test_clear_empties_the_journal(tmp_path: Path) -> None:
    journal = RequestJournal(tmp_path)
    recorded(journal, 2)
    journal.open()
    journal.clear()
    journal.close()
    assert journal.entries() == []


def test_checkpoints_survive_a_new_instance_and_clear(tmp_path: Path) -> None:
    checkpoints = StreamCheckpoints(tmp_path)
    checkpoints.save("Outbox", "shard-1", "1100")
    checkpoints.save("Outbox", "shard-1", "1107")
    checkpoints.save("ChildCancel", "shard-1", "1103")
    again = StreamCheckpoints(tmp_path)
    assert (again.get("Outbox", "shard-1"), again.get("ChildCancel", "shard-1")) == ("1107", "1103")
    assert again.get("Outbox", "shard-2") is None
    again.clear()
    assert StreamCheckpoints(tmp_path).get("Outbox", "shard-1") is None
