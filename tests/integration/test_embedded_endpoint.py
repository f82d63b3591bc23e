"""The embedded AWS endpoint against plain moto.

Plain moto 5.2.5 (`ThreadedMotoServer`) has four problems with TransactWriteItems; each is reproduced here
deterministically, by pausing a transaction at a chosen point inside moto and running a concurrent request to
completion meanwhile (which plain moto allows), and then shown gone through the embedded endpoint with real races:

1. the rollback copy costs O(table size): counted as tables (and their items) deep-copied per transaction;
2. a write during that copy crashes the transaction with HTTP 500;
3. a failed transaction erases writes acknowledged meanwhile to other items (and leaves its stream records to
   readers holding an iterator, while hiding later ones from them);
4. a reader can see half of a transaction.

Clients never retry, so every 5xx surfaces. Every hook and count is scoped to the test's own table, so the tests
hold even while another endpoint (a session-wide local stack) serves other tables in the same process.
"""

from __future__ import annotations

import copy
import http.client
import inspect
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import moto
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb import models as moto_dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from stratoflow_local import embedded_endpoint
from stratoflow_local.embedded_endpoint import EmbeddedAwsEndpoint
from stratoflow_local.moto_pin import MotoPinError
from stratoflow_local.moto_transactions import TransactionJournal, journaled_transact_write_items

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=4)
JOIN_TIMEOUT = 60  # only reached if something hangs; never part of an assertion
MOTO_TRANSACT_WRITE_ITEMS = inspect.unwrap(DynamoDBBackend.transact_write_items)


# -- plumbing -----------------------------------------------------------------------------------------------------


def client(url: str, service: str = "dynamodb") -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    )


@pytest.fixture
def endpoint() -> Iterator[EmbeddedAwsEndpoint]:
    with EmbeddedAwsEndpoint() as running:
        yield running


@pytest.fixture(scope="module")
def plain_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def plain_url(plain_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A plain ThreadedMotoServer with moto's own TransactWriteItems.

    moto's backends are process-wide: should an endpoint run elsewhere in this process, moto's method is put back
    for the duration of the test (its tables are not touched here).
    """
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", MOTO_TRANSACT_WRITE_ITEMS)
    return plain_server


def key(pk: str, sk: str = "1") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def create_table(ddb: Any) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


def fill(ddb: Any, table: str, count: int, prefix: str = "P") -> None:
    items = [key(f"{prefix}#{index}") | {"n": {"N": "0"}} for index in range(count)]
    for start in range(0, count, 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        ddb.batch_write_item(RequestItems={table: batch})


def put(table: str, pk: str, sk: str = "1") -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": key(pk, sk)}}


def bump(table: str, pk: str, by: int = 1, sk: str = "1") -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": key(pk, sk),
            "UpdateExpression": "SET n = n + :by",
            "ExpressionAttributeValues": {":by": {"N": str(by)}},
        }
    }


def must_not_exist(table: str, pk: str) -> dict[str, Any]:
    """A ConditionCheck that fails when the item exists."""
    return {"ConditionCheck": {"TableName": table, "Key": key(pk), "ConditionExpression": "attribute_not_exists(pk)"}}


def all_items(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    pages = ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return {item["pk"]["S"]: item for page in pages for item in page["Items"]}


def stream_iterator(url: str, ddb: Any, table: str) -> str:
    streams = client(url, "dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator: str = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    return iterator


def read_stream(url: str, iterator: str) -> list[tuple[str, str]]:
    """(eventName, pk) of every record from `iterator` to the end of the shard."""
    streams = client(url, "dynamodbstreams")
    records: list[tuple[str, str]] = []
    while True:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        records += [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in page["Records"]]
        if not page["Records"]:
            return records
        iterator = page["NextShardIterator"]


def run_to_completion(function: Callable[[], Any]) -> Any:
    """Run `function` in another thread and wait for it; returns its result or re-raises its exception."""
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as error:
            outcome.append((False, error))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(JOIN_TIMEOUT)
    assert not thread.is_alive(), "the concurrent request did not finish"
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


class Interleaving:
    """At the n-th call of `owner.method` matching `when`, run `concurrent` in another thread to completion.

    Calls are counted in the thread of the first matching one, the server thread of the request under test, which
    stays paused while the concurrent request runs in another server thread. Only usable on plain moto: the
    embedded endpoint would (rightly) hold the concurrent request until the paused one ends. `same_thread` runs
    `concurrent` in the paused thread itself instead (an in-process write under the endpoint's re-entrant lock).
    """

    def __init__(
        self,
        patch: pytest.MonkeyPatch,
        owner: type,
        method: str,
        concurrent: Callable[[], Any],
        when: Callable[..., bool],
        nth: int = 1,
        same_thread: bool = False,
    ) -> None:
        self.result: Any = None
        self.fired = False
        original = getattr(owner, method)
        calls = 0
        paused_thread: int | None = None

        def hooked(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls, paused_thread
            if not self.fired and when(*args, **kwargs):
                if paused_thread is None:
                    paused_thread = threading.get_ident()
                if threading.get_ident() == paused_thread:
                    calls += 1
                    if calls == nth:
                        self.fired = True
                        self.result = concurrent() if same_thread else run_to_completion(concurrent)
            return original(*args, **kwargs)

        patch.setattr(owner, method, hooked)


def on_table(table: str) -> Callable[..., bool]:
    """`when` for DynamoDBBackend methods whose first argument is the table name."""
    return lambda _backend, table_name, *args, **kwargs: table_name == table


def run_concurrently(*workers: Callable[[threading.Barrier], None]) -> list[BaseException]:
    """Start every worker at once (behind a barrier); return what they raised."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def guarded(worker: Callable[[threading.Barrier], None]) -> None:
        try:
            worker(barrier)
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=guarded, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a worker did not finish"
    return errors


# -- the endpoint itself ------------------------------------------------------------------------------------------


def test_start_serves_every_service_on_loopback_and_stop_gives_moto_back_its_method() -> None:
    before = DynamoDBBackend.transact_write_items
    endpoint = EmbeddedAwsEndpoint()
    url = endpoint.start()
    try:
        assert url == endpoint.url
        assert url.startswith("http://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        assert DynamoDBBackend.transact_write_items is journaled_transact_write_items
        kwargs = endpoint.client_kwargs()
        assert kwargs["endpoint_url"] == url
        assert endpoint.environment()["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"

        ddb = boto3.client("dynamodb", **kwargs)
        table = create_table(ddb)
        ddb.put_item(TableName=table, Item=key("a"))
        assert read_stream(url, stream_iterator(url, ddb, table)) == [("INSERT", "a")]
        scheduler = boto3.client("scheduler", **kwargs)
        scheduler.create_schedule_group(Name=f"g-{table}")
        assert scheduler.get_schedule_group(Name=f"g-{table}")["State"] == "ACTIVE"
        sqs = boto3.client("sqs", **kwargs)
        queue = sqs.create_queue(QueueName=table)["QueueUrl"]
        sqs.send_message(QueueUrl=queue, MessageBody="m")
        assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "m"
        events = boto3.client("events", **kwargs)
        assert events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])["FailedEntryCount"] == 0
    finally:
        endpoint.stop()
    assert DynamoDBBackend.transact_write_items is before
    with pytest.raises(RuntimeError, match="not running"):
        _ = endpoint.url


def test_change_listeners_hear_the_service_of_every_committed_change_and_nothing_else(
    endpoint: EmbeddedAwsEndpoint,
) -> None:
    heard: list[str] = []
    endpoint.add_change_listener(heard.append)
    kwargs = endpoint.client_kwargs()
    ddb = boto3.client("dynamodb", **kwargs, config=NO_RETRIES)
    table = create_table(ddb)
    heard.clear()
    ddb.put_item(TableName=table, Item=key("a"))
    ddb.get_item(TableName=table, Key=key("a"))  # a read changes nothing
    ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}})
    with pytest.raises(ClientError):  # a refused write changed nothing either
        ddb.put_item(TableName=table, Item=key("a"), ConditionExpression="attribute_not_exists(pk)")
    sqs = boto3.client("sqs", **kwargs)
    queue = sqs.create_queue(QueueName=f"q-{table}")["QueueUrl"]
    sqs.receive_message(QueueUrl=queue)
    assert heard == ["dynamodb", "sqs"]


def test_two_endpoints_share_one_installation_and_one_lock() -> None:
    before = DynamoDBBackend.transact_write_items
    with EmbeddedAwsEndpoint() as first:
        with EmbeddedAwsEndpoint() as second:
            assert first.url != second.url
            assert first.lock is second.lock
        assert DynamoDBBackend.transact_write_items is journaled_transact_write_items
    assert DynamoDBBackend.transact_write_items is before


def test_start_refuses_a_changed_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    before = DynamoDBBackend.transact_write_items
    endpoint = EmbeddedAwsEndpoint()

    with pytest.raises(MotoPinError, match=r"moto\.__version__ is '5\.3\.0'"):
        endpoint.start()

    assert DynamoDBBackend.transact_write_items is before
    with pytest.raises(RuntimeError, match="not running"):
        _ = endpoint.url


def test_a_request_waits_while_the_lock_is_held(endpoint: EmbeddedAwsEndpoint) -> None:
    ddb = client(endpoint.url)
    table = create_table(ddb)
    done = threading.Event()

    def request() -> None:
        ddb.put_item(TableName=table, Item=key("a"))
        done.set()

    worker = threading.Thread(target=request)
    with endpoint.lock:
        worker.start()
        # Not a timing assertion: while the lock is held the request cannot complete, however long we wait.
        assert not done.wait(0.3)
    worker.join(JOIN_TIMEOUT)
    assert done.is_set()


def test_no_request_reaches_moto_after_stop() -> None:
    endpoint = EmbeddedAwsEndpoint()
    ddb = client(endpoint.start())
    table = create_table(ddb)
    outcome: list[BaseException | None] = []

    def late_request() -> None:
        try:
            ddb.put_item(TableName=table, Item=key("late"))
            outcome.append(None)
        except (ClientError, BotoCoreError) as error:
            outcome.append(error)

    # A request sent while the lock is held, then the endpoint stopped before the lock is released: whether the
    # request was accepted (and turned away with 503) or refused, it must not reach moto.
    worker = threading.Thread(target=late_request)
    with endpoint.lock:
        worker.start()
        endpoint.stop()
    worker.join(JOIN_TIMEOUT)

    assert outcome and outcome[0] is not None
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    assert backend.get_item(table, key("late")) is None


LIST_TABLES = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0",
}


def test_a_connection_serves_request_after_request_until_the_endpoint_stops() -> None:
    endpoint = EmbeddedAwsEndpoint()
    connection = http.client.HTTPConnection(urlsplit(endpoint.start()).netloc, timeout=JOIN_TIMEOUT)
    try:
        connection.connect()
        connection.auto_open = 0  # a closed connection raises instead of being opened again
        for _ in range(3):
            connection.request("POST", "/", body=b"{}", headers=LIST_TABLES)
            response = connection.getresponse()
            assert response.status == 200
            assert "TableNames" in json.loads(response.read())
            assert not response.will_close
    finally:
        endpoint.stop()

    # stop() closed it, so a client reconnects to whichever endpoint runs next
    with pytest.raises((http.client.HTTPException, OSError)):
        connection.request("POST", "/", body=b"{}", headers=LIST_TABLES)
        connection.getresponse()
    connection.close()


def test_run_locked_reaches_moto_in_process(endpoint: EmbeddedAwsEndpoint) -> None:
    ddb = client(endpoint.url)
    table = create_table(ddb)
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]

    endpoint.run_locked(backend.put_item, table, key("in-process"))

    assert list(all_items(ddb, table)) == ["in-process"]


def test_cancellation_reasons_carry_the_old_item_on_request(endpoint: EmbeddedAwsEndpoint) -> None:
    ddb = client(endpoint.url)
    table = create_table(ddb)
    ddb.put_item(TableName=table, Item=key("a") | {"n": {"N": "5"}})
    check = must_not_exist(table, "a")
    check["ConditionCheck"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"

    with pytest.raises(ClientError) as error:
        ddb.transact_write_items(TransactItems=[put(table, "b"), check])

    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert error.value.response["CancellationReasons"] == [
        {"Code": "None"},
        {
            "Code": "ConditionalCheckFailed",
            "Message": "The conditional request failed",
            "Item": key("a") | {"n": {"N": "5"}},
        },
    ]
    assert list(all_items(ddb, table)) == ["a"]


def test_dynamodb_requests_skip_flask_and_are_answered_as_moto_server_answers_them(
    endpoint: EmbeddedAwsEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The endpoint hands DynamoDB requests to moto's view itself; the answers are those of moto's Flask app."""
    ddb = client(endpoint.url)
    table = create_table(ddb)
    ddb.put_item(TableName=table, Item=key("a") | {"n": {"N": "5"}})
    calls: list[str] = []
    monkeypatch.setattr(embedded_endpoint, "dynamodb_answer", recording(embedded_endpoint.dynamodb_answer, calls))
    requests_to_send: list[tuple[str, dict[str, Any]]] = [
        ("GetItem", {"TableName": table, "Key": key("a")}),
        ("GetItem", {"TableName": table, "Key": key("missing")}),
        (
            "Query",
            {"TableName": table, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}},
        ),
        ("GetItem", {"TableName": "no-such-table", "Key": key("a")}),  # 400 ResourceNotFoundException
        ("PutItem", {"TableName": table, "Item": key("a"), "ConditionExpression": "attribute_not_exists(pk)"}),  # 400
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": key("a"),
                "UpdateExpression": "SET n = n + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
    ]

    direct = [raw_dynamodb(endpoint.url, target, body) for target, body in requests_to_send]
    assert len(calls) == len(requests_to_send)
    ddb.put_item(TableName=table, Item=key("a") | {"n": {"N": "5"}})  # as it was before the first UpdateItem
    served_directly = len(calls)
    monkeypatch.setattr(embedded_endpoint, "DYNAMODB_TARGET_PREFIX", "through-flask-only")
    through_flask = [raw_dynamodb(endpoint.url, target, body) for target, body in requests_to_send]

    assert len(calls) == served_directly
    assert [status for status, _, _ in direct] == [200, 200, 200, 400, 400, 200]
    assert direct == through_flask


def recording(function: Callable[..., Any], calls: list[str]) -> Callable[..., Any]:
    def record(environ: dict[str, Any], start_response: Any) -> Any:
        calls.append(environ["HTTP_X_AMZ_TARGET"])
        return function(environ, start_response)

    return record


def raw_dynamodb(url: str, operation: str, body: dict[str, Any]) -> tuple[int, str | None, Any]:
    """(status, content type, JSON body) of a DynamoDB request, signed as an SDK signs it."""
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=json.dumps(body),
        headers={"X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0"},
    )
    SigV4Auth(Credentials("testing", "testing"), "dynamodb", REGION).add_auth(request)
    answer = requests.post(url + "/", data=request.body, headers=dict(request.headers), timeout=JOIN_TIMEOUT)
    return answer.status_code, answer.headers.get("Content-Type"), answer.json()


# -- problem 1: the rollback copy costs O(table size) -------------------------------------------------------------


@pytest.fixture
def table_copies(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(name, item count) of every table moto's DynamoDB backend deep-copies (its transaction backup)."""
    copies: list[tuple[str, int]] = []

    class CountingCopy:
        """Stands in for the `copy` module inside moto.dynamodb.models."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
            if isinstance(value, Table):
                copies.append((value.name, len(value)))
            return copy.deepcopy(value, memo)

    monkeypatch.setattr(moto_dynamodb_models, "copy", CountingCopy())
    return copies


@pytest.fixture
def journaled_keys(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(table, pk) of every item whose prior version a transaction journal records."""
    keys: list[tuple[str, str]] = []
    remember = TransactionJournal.remember

    def recording(journal: TransactionJournal, table_name: str, item_key: dict[str, Any]) -> None:
        keys.append((table_name, item_key["pk"]["S"]))
        remember(journal, table_name, item_key)

    monkeypatch.setattr(TransactionJournal, "remember", recording)
    return keys


def one_transaction(url: str, size: int, cancelled: bool) -> tuple[str, int]:
    """Run one transaction on a new table of `size` items; returns the table and the number of actions."""
    ddb = client(url)
    table = create_table(ddb)
    fill(ddb, table, size)
    actions = [put(table, "new"), bump(table, "P#1")] + ([must_not_exist(table, "P#2")] if cancelled else [])
    try:
        ddb.transact_write_items(TransactItems=actions)
        assert not cancelled
    except ClientError as error:
        assert cancelled and error.response["Error"]["Code"] == "TransactionCanceledException"
    return table, len(actions)


@pytest.mark.parametrize("cancelled", [False, True], ids=["committed", "cancelled"])
@pytest.mark.parametrize("size", [100, 1000])
def test_plain_moto_copies_the_whole_table_for_every_action(
    plain_url: str, table_copies: list[tuple[str, int]], size: int, cancelled: bool
) -> None:
    table, actions = one_transaction(plain_url, size, cancelled)

    assert [copied for copied in table_copies if copied[0] == table] == [(table, size)] * actions


@pytest.mark.parametrize("cancelled", [False, True], ids=["committed", "cancelled"])
@pytest.mark.parametrize("size", [100, 1000])
def test_endpoint_copies_no_table_and_journals_only_the_written_items(
    endpoint: EmbeddedAwsEndpoint,
    table_copies: list[tuple[str, int]],
    journaled_keys: list[tuple[str, str]],
    size: int,
    cancelled: bool,
) -> None:
    table, _ = one_transaction(endpoint.url, size, cancelled)

    assert [copied for copied in table_copies if copied[0] == table] == []
    # The ConditionCheck only reads, so it is not journaled.
    assert [pk for name, pk in journaled_keys if name == table] == ["new", "P#1"]


def test_endpoint_rollback_restores_only_the_written_items(
    endpoint: EmbeddedAwsEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 300 items, and a component of the local stack that writes another of them in process (under the lock,
    # which the transaction's server thread already holds: it is re-entrant) while the transaction runs
    ddb = client(endpoint.url)
    table = create_table(ddb)
    fill(ddb, table, 300)
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    restored: list[str] = []
    rollback = TransactionJournal.rollback

    def recording_rollback(journal: TransactionJournal) -> None:
        restored.extend(entry.hash_key.value for entry in journal.entries if entry.table.name == table)
        rollback(journal)

    def in_process_write() -> None:
        endpoint.run_locked(backend.put_item, table, key("P#200") | {"n": {"N": "42"}})

    # When a transaction writing three items fails its last condition
    with monkeypatch.context() as patch, pytest.raises(ClientError) as cancelled:
        patch.setattr(TransactionJournal, "rollback", recording_rollback)
        Interleaving(patch, DynamoDBBackend, "get_item", in_process_write, when=on_table(table), same_thread=True)
        ddb.transact_write_items(
            TransactItems=[
                put(table, "new"),
                bump(table, "P#1"),
                {"Delete": {"TableName": table, "Key": key("P#2")}},
                must_not_exist(table, "P#3"),
            ]
        )

    # Then it was cancelled by its condition alone, exactly those three were put back, and the in-process write
    # survived
    reasons = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert restored == ["new", "P#1", "P#2"]
    items = all_items(ddb, table)
    assert len(items) == 300
    assert items["P#200"]["n"] == {"N": "42"}
    assert all(item["n"] == {"N": "0"} for pk, item in items.items() if pk != "P#200")


# -- problem 2: a write during the copy crashes the transaction (HTTP 500) ----------------------------------------


def test_plain_moto_answers_500_when_a_write_lands_during_the_copy(
    plain_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb = client(plain_url)
    table = create_table(ddb)
    fill(ddb, table, 20, prefix=table)

    # While the transaction deep-copies the table (at its first item), another request adds a partition.
    with monkeypatch.context() as patch, pytest.raises(ClientError) as error:
        during_copy = Interleaving(
            patch,
            Item,
            "__deepcopy__",
            lambda: client(plain_url).put_item(TableName=table, Item=key("late")),
            when=lambda item, _memo: str(item.hash_key.value).startswith(table),
        )
        ddb.transact_write_items(TransactItems=[put(table, "new")])

    assert during_copy.fired
    assert during_copy.result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


# -- problem 3: a failed transaction erases acknowledged writes and pollutes the stream ---------------------------


def test_plain_moto_loses_a_write_acknowledged_during_a_failed_transaction(
    plain_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb = client(plain_url)
    table = create_table(ddb)
    ddb.put_item(TableName=table, Item=key("sentinel"))

    # After the backup copy, at the transaction's first read, another request writes an unrelated item.
    with monkeypatch.context() as patch, pytest.raises(ClientError, match="TransactionCanceledException"):
        during_transaction = Interleaving(
            patch,
            DynamoDBBackend,
            "get_item",
            lambda: client(plain_url).put_item(TableName=table, Item=key("acknowledged")),
            when=on_table(table),
        )
        ddb.transact_write_items(TransactItems=[put(table, "new"), must_not_exist(table, "sentinel")])

    assert during_transaction.result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Item" not in ddb.get_item(TableName=table, Key=key("acknowledged"), ConsistentRead=True)


def test_plain_moto_stream_readers_see_a_failed_transaction_and_miss_what_follows(plain_url: str) -> None:
    ddb = client(plain_url)
    table = create_table(ddb)
    ddb.put_item(TableName=table, Item=key("sentinel"))
    iterator = stream_iterator(plain_url, ddb, table)

    with pytest.raises(ClientError, match="TransactionCanceledException"):
        ddb.transact_write_items(TransactItems=[put(table, "failed"), must_not_exist(table, "sentinel")])
    ddb.put_item(TableName=table, Item=key("after"))

    # The restore swapped in a copy of the table with a new shard; the old iterator still reads the old one.
    assert read_stream(plain_url, iterator) == [("INSERT", "sentinel"), ("INSERT", "failed")]


def test_endpoint_leaves_no_stream_record_of_a_failed_transaction(endpoint: EmbeddedAwsEndpoint) -> None:
    ddb = client(endpoint.url)
    table = create_table(ddb)
    fill(ddb, table, 3)
    iterator = stream_iterator(endpoint.url, ddb, table)

    with pytest.raises(ClientError, match="TransactionCanceledException"):
        ddb.transact_write_items(
            TransactItems=[
                put(table, "failed"),
                bump(table, "P#0"),
                {"Delete": {"TableName": table, "Key": key("P#1")}},
                must_not_exist(table, "P#2"),
            ]
        )
    ddb.put_item(TableName=table, Item=key("after"))

    assert read_stream(endpoint.url, iterator) == [
        ("INSERT", "P#0"),
        ("INSERT", "P#1"),
        ("INSERT", "P#2"),
        ("INSERT", "after"),
    ]


# -- problem 4: a reader sees half a transaction -------------------------------------------------------------------


def test_plain_moto_lets_a_reader_see_half_a_transaction(plain_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ddb = client(plain_url)
    table = create_table(ddb)

    def query_pair() -> list[str]:
        page = client(plain_url).query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "pair"}},
            ConsistentRead=True,
        )
        return [item["sk"]["S"] for item in page["Items"]]

    # Between the transaction's two actions (at its second read of an item), a reader queries the pair.
    with monkeypatch.context() as patch:
        between_actions = Interleaving(patch, DynamoDBBackend, "get_item", query_pair, when=on_table(table), nth=2)
        ddb.transact_write_items(TransactItems=[put(table, "pair", "a"), put(table, "pair", "b")])

    assert between_actions.result == ["a"]
    assert query_pair() == ["a", "b"]


# -- problems 2, 3 and 4 through the endpoint: real races ----------------------------------------------------------

PREFILL = 200
WRITES = 300
FAILING = 100  # per thread, two threads
COMMITTING = 100


def test_endpoint_concurrent_transactions_never_fail_and_lose_nothing(endpoint: EmbeddedAwsEndpoint) -> None:
    # Given a table of 200 items, a sentinel and a counter
    url = endpoint.url
    ddb = client(url)
    table = create_table(ddb)
    fill(ddb, table, PREFILL)
    ddb.put_item(TableName=table, Item=key("sentinel"))
    ddb.put_item(TableName=table, Item=key("counter") | {"n": {"N": "0"}})
    iterator = stream_iterator(url, ddb, table)
    acknowledged: list[str] = []
    reasons: list[list[str]] = []

    def writer(barrier: threading.Barrier) -> None:
        mine = client(url)
        barrier.wait()
        for index in range(WRITES):
            mine.put_item(TableName=table, Item=key(f"W#{index}"))
            acknowledged.append(f"W#{index}")

    def failing(name: str) -> Callable[[threading.Barrier], None]:
        def run(barrier: threading.Barrier) -> None:
            mine = client(url)
            barrier.wait()
            for index in range(FAILING):
                actions = [
                    put(table, f"F#{name}#{index}"),
                    bump(table, f"P#{index}"),
                    must_not_exist(table, "sentinel"),
                ]
                try:
                    mine.transact_write_items(TransactItems=actions)
                except ClientError as error:
                    if error.response["Error"]["Code"] != "TransactionCanceledException":
                        raise
                    reasons.append([reason["Code"] for reason in error.response["CancellationReasons"]])
                else:
                    raise AssertionError("a transaction with a failing condition committed")

        return run

    def committing(barrier: threading.Barrier) -> None:
        mine = client(url)
        barrier.wait()
        for index in range(COMMITTING):
            mine.transact_write_items(TransactItems=[put(table, f"S#{index}"), bump(table, "counter")])

    # When one thread writes, two run failing transactions and one committing transactions, all at once
    errors = run_concurrently(writer, failing("x"), failing("y"), committing)

    # Then no request failed (no 5xx), every failure was the condition, and nothing acknowledged was lost
    assert errors == []
    assert reasons == [["None", "None", "ConditionalCheckFailed"]] * (2 * FAILING)
    items = all_items(ddb, table)
    expected = (
        {f"P#{i}" for i in range(PREFILL)}
        | {"sentinel", "counter"}
        | set(acknowledged)
        | {f"S#{i}" for i in range(COMMITTING)}
    )
    assert len(acknowledged) == WRITES
    assert set(items) == expected
    assert items["counter"]["n"] == {"N": str(COMMITTING)}
    assert all(items[f"P#{i}"]["n"] == {"N": "0"} for i in range(PREFILL))
    # and the stream holds exactly the committed writes: none of the 200 failed transactions left a record
    records = Counter(read_stream(url, iterator))
    expected_records = Counter(
        [("INSERT", f"P#{i}") for i in range(PREFILL)]
        + [("INSERT", "sentinel"), ("INSERT", "counter")]
        + [("INSERT", pk) for pk in acknowledged]
        + [("INSERT", f"S#{i}") for i in range(COMMITTING)]
        + [("MODIFY", "counter")] * COMMITTING
    )
    assert records == expected_records


PAIR_COMMITS = 75  # per thread, two threads
PAIR_FAILURES = 75


def test_endpoint_readers_never_see_part_of_a_transaction(endpoint: EmbeddedAwsEndpoint) -> None:
    # Given two items that every transaction changes together
    url = endpoint.url
    ddb = client(url)
    table = create_table(ddb)
    for sk in ("a", "b"):
        ddb.put_item(TableName=table, Item=key("pair", sk) | {"n": {"N": "0"}})
    ddb.put_item(TableName=table, Item=key("sentinel"))
    writers_left = [3]
    writers_lock = threading.Lock()
    writers_done = threading.Event()
    observations: list[tuple[int, ...]] = []

    def writer(body: Callable[[Any], None]) -> Callable[[threading.Barrier], None]:
        def run(barrier: threading.Barrier) -> None:
            mine = client(url)
            try:
                barrier.wait()
                body(mine)
            finally:
                with writers_lock:
                    writers_left[0] -= 1
                    if writers_left[0] == 0:
                        writers_done.set()

        return run

    def committing(mine: Any) -> None:
        for _ in range(PAIR_COMMITS):
            mine.transact_write_items(TransactItems=[bump(table, "pair", 1, "a"), bump(table, "pair", 1, "b")])

    def failing(mine: Any) -> None:
        # Applies both updates (+1000 each) before its condition fails: readers must never see them.
        for _ in range(PAIR_FAILURES):
            actions = [
                bump(table, "pair", 1000, "a"),
                bump(table, "pair", 1000, "b"),
                must_not_exist(table, "sentinel"),
            ]
            with pytest.raises(ClientError, match="TransactionCanceledException"):
                mine.transact_write_items(TransactItems=actions)

    def read_pair(mine: Any) -> tuple[int, ...]:
        page = mine.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "pair"}},
            ConsistentRead=True,
        )
        return tuple(int(item["n"]["N"]) for item in page["Items"])

    def reader(barrier: threading.Barrier) -> None:
        mine = client(url)
        barrier.wait()
        while not writers_done.is_set():
            observations.append(read_pair(mine))

    # When two threads commit, one fails, and two read, all at once
    errors = run_concurrently(writer(committing), writer(committing), writer(failing), reader, reader)

    # Then every read saw both items at the same count, never a failed transaction's, and the final count is exact
    assert errors == []
    assert observations, "the readers never ran"
    assert [seen for seen in observations if len(seen) != 2 or seen[0] != seen[1] or seen[0] > 2 * PAIR_COMMITS] == []
    assert read_pair(ddb) == (2 * PAIR_COMMITS, 2 * PAIR_COMMITS)
