"""DynamoDB projection: one item per document holding its current state, version-conditioned.

URI: ``dynamodb://TableName[?overflow=s3://bucket/prefix&create=true]``, parsed without I/O by
:mod:`projections.dynamodb_target`; :func:`open_target` builds the clients.

Table layout (created by :meth:`DynamoDbProjection.ensure_table`, or on open with
``create=true``): partition key ``pk`` (S), no sort key, ``PAY_PER_REQUEST``, and a global
secondary index ``byLedgerTable`` (hash ``ledgerTable``, range ``pk``, all attributes) so a
dashboard can query every document of one ledger table. Replay checkpoints live in a second
table, ``<TableName>-checkpoints`` (created alongside it), so no document can ever look like one.

Document item (``pk`` = QLDB document id, unique per ledger):

==================  =====  =================================================================
attribute           type   meaning
==================  =====  =================================================================
``pk``              S      document id
``ledgerTable``     S      QLDB table name (the GSI hash key)
``version``         N      QLDB document version, the only ordering authority
``deleted``         BOOL   tombstone: the document was deleted at ``version``
``redacted``        BOOL   the revision at ``version`` was redacted
``data``            M      the document (numbers as N with their exact digits); absent for
                           tombstones, redactions and offloaded documents
``dataRef``         M      ``{bucket, key, sha256, bytes}`` of an offloaded document (> 400 KB)
``txId``/``txTime`` S      commit transaction id and ISO-8601 time
``revisionHash``    S      base64 SHA-256 of the revision
``dataHash``        S      redactions only: base64 hash of the redacted data
``blockStrand``     S      strand id of the committing block
``blockSeq``        N      sequence number of the committing block
``tableId``         S      QLDB table id, when known
==================  =====  =================================================================

Checkpoint items (replay resume) are in the checkpoints table ``<TableName>-checkpoints``:
partition key ``exportId`` (S), sort key ``objectKey`` (S), ``PAY_PER_REQUEST``. Resume reads
them with one strongly consistent ``Query`` per export (never a ``Scan``). The documents table
holds documents only, whatever their ids.

Guarantees:

* Every write is a conditional ``PutItem``:
  ``attribute_not_exists(pk) OR #v < :v``, and for a redaction additionally
  ``OR (#v = :v AND (attribute_not_exists(#r) OR #r = :false))``: a redaction of the current
  version wins (also over an item without a ``redacted`` attribute), nothing else at an equal
  version does. A failed condition is a stale change (success, counted).
* The batch is coalesced first (``changes.coalesce``; DynamoDB keeps no history), then the
  writes run concurrently on a bounded thread pool.
* Numbers are never floats: ``Decimal``/``int`` go on the wire as their exact text; plain
  floats are converted through ``str``. NaN, infinities, more than 38 significant digits or
  magnitudes outside DynamoDB's range are :class:`UnstorableChangeError` for that change only,
  and so is text that is not valid UTF-8 (a lone UTF-16 surrogate in the data, a map key, the
  document id or the table name).
  Note that real DynamoDB trims leading and trailing zeros of stored numbers (``1.50`` is read
  back as ``1.5``); the value is exact, its written form is not kept.
* Items whose conservatively estimated size exceeds 400 KB have their data offloaded to S3
  (``projections.large_documents``) when an overflow location is configured, else the change
  fails with :class:`UnstorableChangeError`.
* Throttling, 5xx, timeouts and connection errors are retried inside ``apply`` (exponential
  backoff, full jitter, bounded); still failing -> ``Failure(RetryableError)``.
  ``ValidationException`` -> ``Failure(PoisonError)``; a missing table or denied access ->
  ``Failure(RetryableError)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    WaiterError,
)

from changes.coalesce import coalesce
from changes.reconcile import DocState
from core.errors import (
    CdcError,
    ConfigError,
    PoisonError,
    RetryableError,
    UnstorableChangeError,
    retryable_unless_poison,
)
from core.model import BlockAddress, Change, DocKey
from core.retry import Retry
from projections import large_documents
from projections.aws_errors import (
    ConditionFailedError,
    aws_retry,
    checked_call,
    classify_client_error,
    client_config,
    configured_client,
)
from projections.base import ApplyReport, Failure
from projections.dynamodb_target import (
    CHECKPOINT_TABLE_SUFFIX,
    MAX_TABLE_NAME,
    DynamoDbTarget,
    OverflowLocation,
    checkpoint_table_name,
)
from projections.dynamodb_target import parse as parse_target
from projections.large_documents import DocumentRef

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

ITEM_LIMIT_BYTES = 400 * 1024
"""DynamoDB's maximum item size."""

MAX_DEPTH = 32
"""DynamoDB's maximum nesting depth of document attributes."""

MAX_DIGITS = 38
"""DynamoDB's maximum number precision (significant digits)."""

GSI_NAME = "byLedgerTable"
DEFAULT_WORKERS = 16

_CONDITION = "attribute_not_exists(pk) OR #v < :v"
# Items written by other tools may lack ``redacted``: a missing flag means "not redacted".
_REDACTION_CONDITION = f"{_CONDITION} OR (#v = :v AND (attribute_not_exists(#r) OR #r = :false))"


# --------------------------------------------------------------------------- value encoding


def to_attribute_value(value: Any, depth: int = 1) -> dict[str, Any]:
    """Encode a plain document value as a low-level DynamoDB ``AttributeValue``.

    Raises:
        UnstorableChangeError: NaN/infinite numbers, numbers DynamoDB cannot hold, nesting
            deeper than 32 levels, text (values and map keys) that is not valid UTF-8 (a lone
            UTF-16 surrogate), or a type with no DynamoDB form.
    """
    kind = type(value)
    if kind is str:
        return {"S": utf8_text(value)}
    if value is None:
        return {"NULL": True}
    if kind is bool:
        return {"BOOL": value}
    if kind is int or kind is Decimal or kind is float:
        return {"N": number_text(value)}
    if depth > MAX_DEPTH:
        msg = f"document nests deeper than DynamoDB's {MAX_DEPTH} levels"
        raise UnstorableChangeError(msg)
    if kind is dict:
        return {
            "M": {utf8_text(str(k)): to_attribute_value(v, depth + 1) for k, v in value.items()}
        }
    if kind is list:
        return {"L": [to_attribute_value(v, depth + 1) for v in value]}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    msg = f"cannot store a {kind.__name__} in DynamoDB"
    raise UnstorableChangeError(msg)


def utf8_text(text: str) -> str:
    """``text`` unchanged when it encodes as UTF-8 (DynamoDB strings are UTF-8).

    Raises:
        UnstorableChangeError: ``text`` holds a lone UTF-16 surrogate. botocore would send it
            as a JSON ``\\ud800`` escape that the service can never store as UTF-8.
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = f"text {text[:40]!r} contains a lone UTF-16 surrogate, which is not valid UTF-8"
            raise UnstorableChangeError(msg) from exc
    return text


def number_text(value: int | Decimal | float) -> str:
    """The exact wire text of a number; floats go through ``str`` (never binary expansion).

    Raises:
        UnstorableChangeError: NaN, infinity, > 38 significant digits, or outside
            ``1E-130 .. 9.99...E+125`` in magnitude.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"DynamoDB cannot store the non-finite number {value!r}"
            raise UnstorableChangeError(msg)
        number = Decimal(str(value))
    elif isinstance(value, int):
        number = Decimal(value)
    else:
        number = value
    if not number.is_finite():
        msg = f"DynamoDB cannot store the non-finite number {value!r}"
        raise UnstorableChangeError(msg)
    if number != 0:
        digits = number.as_tuple().digits
        significant = len("".join(map(str, digits)).strip("0")) or 1
        if significant > MAX_DIGITS:
            msg = f"number {value} has more than {MAX_DIGITS} significant digits"
            raise UnstorableChangeError(msg)
        magnitude = number.copy_abs()
        if magnitude >= Decimal("1E+126") or magnitude < Decimal("1E-130"):
            msg = f"number {value} is outside DynamoDB's range"
            raise UnstorableChangeError(msg)
    return str(value) if isinstance(value, int | Decimal) else str(number)


def from_attribute_value(value: dict[str, Any]) -> Any:
    """Decode a low-level ``AttributeValue`` to plain Python.

    Numbers with a fraction or exponent become ``Decimal``, others ``int`` (the same shapes a
    JSON round trip through ``core.json_codec`` gives).
    """
    ((tag, inner),) = value.items()
    if tag == "S":
        return inner
    if tag == "N":
        text = str(inner)
        if any(c in text for c in ".eE"):
            return Decimal(text)
        return int(text)
    if tag == "M":
        return {k: from_attribute_value(v) for k, v in inner.items()}
    if tag == "L":
        return [from_attribute_value(v) for v in inner]
    if tag == "BOOL":
        return bool(inner)
    if tag == "NULL":
        return None
    if tag == "B":
        return bytes(inner)
    msg = f"unexpected DynamoDB attribute type {tag}"
    raise ValueError(msg)


def attribute_size(value: dict[str, Any]) -> int:
    """Conservative size in bytes of an ``AttributeValue`` under DynamoDB's item-size rules.

    Strings and binaries count their bytes; numbers ``ceil(digits/2) + 2``; booleans and nulls
    1; maps and lists 3 bytes plus 1 per element plus each element (map keys count their UTF-8
    length). The estimate is never below what DynamoDB charges.
    """
    ((tag, inner),) = value.items()
    if tag == "S":
        return len(inner.encode("utf-8"))
    if tag == "N":
        return (len(inner) + 1) // 2 + 2
    if tag == "B":
        return len(inner)
    if tag in {"BOOL", "NULL"}:
        return 1
    if tag == "M":
        return 3 + sum(len(k.encode("utf-8")) + 1 + attribute_size(v) for k, v in inner.items())
    if tag == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    return len(repr(inner))


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """Conservative size of a whole item: attribute names plus values (see attribute_size)."""
    return sum(len(name.encode("utf-8")) + attribute_size(v) for name, v in item.items())


def change_item(change: Change) -> dict[str, dict[str, Any]]:
    """The item for ``change`` with inline ``data`` (before any offload decision).

    Raises:
        UnstorableChangeError: the document holds a value DynamoDB cannot store.
    """
    item: dict[str, dict[str, Any]] = {
        "pk": {"S": utf8_text(change.key.doc_id)},
        "ledgerTable": {"S": utf8_text(change.key.table)},
        "version": {"N": str(change.version)},
        "deleted": {"BOOL": change.is_tombstone},
        "redacted": {"BOOL": change.is_redacted},
        "txId": {"S": utf8_text(change.tx_id)},
        "txTime": {"S": utf8_text(change.tx_time)},
        "revisionHash": {"S": utf8_text(change.revision_hash)},
        "blockStrand": {"S": utf8_text(change.block.strand_id)},
        "blockSeq": {"N": str(change.block.sequence_no)},
    }
    if change.data is not None:
        item["data"] = to_attribute_value(change.data)
    if change.data_hash is not None:
        item["dataHash"] = {"S": utf8_text(change.data_hash)}
    if change.table_id is not None:
        item["tableId"] = {"S": utf8_text(change.table_id)}
    return item


def read_document(item: dict[str, Any], s3_client: S3Client | None) -> dict[str, Any] | None:
    """The document data of a stored item, fetching and verifying it from S3 when offloaded.

    Returns ``None`` for tombstones and redactions.

    Raises:
        OffloadedDocumentCorruptError: the S3 object's SHA-256 or size does not match
            ``dataRef``.
        RetryableError / PoisonError: classified S3 failures.
    """
    if "dataRef" in item:
        if s3_client is None:
            msg = f"item {item.get('pk')} is offloaded to S3 but no S3 client was given"
            raise ValueError(msg)
        return large_documents.fetch(s3_client, DocumentRef.from_attribute(item["dataRef"]))
    if "data" in item:
        data = from_attribute_value(item["data"])
        if not isinstance(data, dict):
            msg = f"item {item.get('pk')} has a non-map data attribute"
            raise ValueError(msg)
        return data
    return None


# --------------------------------------------------------------------------- projection


class DynamoDbProjection:
    """Current state of every document in one DynamoDB table (see module docstring).

    Args:
        client: a boto3 DynamoDB client (thread-safe; give it ``max_pool_connections`` >=
            ``workers``).
        table_name: the DynamoDB table of the documents.
        checkpoint_table: the table of replay checkpoints (default
            :func:`checkpoint_table_name` of ``table_name``).
        s3_client: S3 client for offloaded documents; required with ``overflow``.
        overflow: where documents above 400 KB go; ``None`` makes them poison.
        retry: backoff of retryable failures (:func:`projections.aws_errors.aws_retry` by
            default).
        workers: concurrent writes per ``apply``.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        checkpoint_table: str | None = None,
        s3_client: S3Client | None = None,
        overflow: OverflowLocation | None = None,
        retry: Retry | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if overflow is not None and s3_client is None:
            msg = "an overflow location needs an S3 client"
            raise ConfigError(msg)
        self._client = client
        self._table = table_name
        self._checkpoints = checkpoint_table or checkpoint_table_name(table_name)
        self._s3 = s3_client
        self._overflow = overflow
        self._retry = retry or aws_retry()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dynamodb")

    @property
    def name(self) -> str:
        """Always ``dynamodb``."""
        return "dynamodb"

    @property
    def table_name(self) -> str:
        """The DynamoDB table the documents are written to."""
        return self._table

    @property
    def checkpoint_table(self) -> str:
        """The DynamoDB table of replay checkpoints."""
        return self._checkpoints

    def ensure_table(self) -> None:
        """Create both tables unless they exist, and wait until they are ACTIVE.

        The documents table: key ``pk`` S, on demand, GSI ``byLedgerTable``. The checkpoints
        table: key ``exportId`` S + ``objectKey`` S, on demand.

        Raises:
            ThrottledError / RetryableError / PoisonError: a classified failure of a call,
                including the waiter's (a table that does not become ACTIVE in time is
                retryable).
        """
        self._ensure(
            TableName=self._table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "ledgerTable", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[
                {
                    "IndexName": GSI_NAME,
                    "KeySchema": [
                        {"AttributeName": "ledgerTable", "KeyType": "HASH"},
                        {"AttributeName": "pk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        self._ensure(
            TableName=self._checkpoints,
            KeySchema=[
                {"AttributeName": "exportId", "KeyType": "HASH"},
                {"AttributeName": "objectKey", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "exportId", "AttributeType": "S"},
                {"AttributeName": "objectKey", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )

    def _ensure(self, **spec: Any) -> None:
        """``CreateTable(**spec)`` unless the table exists; then wait until it is ACTIVE."""
        name = spec["TableName"]
        try:
            self._client.describe_table(TableName=name)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise classify_client_error(exc) from exc
        except BotoCoreError as exc:
            raise classify_client_error(exc) from exc
        try:
            self._client.create_table(**spec)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise classify_client_error(exc) from exc
        except BotoCoreError as exc:
            raise classify_client_error(exc) from exc
        try:
            self._client.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
            )
        except WaiterError as exc:
            last: Any = exc.last_response
            if isinstance(exc.last_response, dict) and "Error" in exc.last_response:
                # The waiter stopped on an error response: classify it like the call itself.
                raise classify_client_error(ClientError(last, "DescribeTable")) from exc
            msg = f"DynamoDB table {name} did not become ACTIVE: {exc}"
            raise RetryableError(msg) from exc
        except BotoCoreError as exc:
            raise classify_client_error(exc) from exc

    def apply(self, changes: Sequence[Change]) -> ApplyReport:
        """Write the winning change of each document concurrently; see the module guarantees."""
        batch = coalesce(changes)
        report = ApplyReport(received=batch.received, superseded=batch.superseded)
        winners = list(batch.latest.values())
        for change, outcome in zip(winners, self._pool.map(self._write, winners), strict=True):
            if isinstance(outcome, CdcError):
                report.failures.append(Failure(change, retryable_unless_poison(outcome)))
            elif outcome:
                report.applied += 1
                report.tombstones += change.is_tombstone
                report.redactions += change.is_redacted
            else:
                report.stale += 1
        return report

    def _write(self, change: Change) -> bool | CdcError:
        """True if applied, False if stale, else the classified error (never raises)."""
        try:
            item = self._item_for(change)
            return self._retry.run(lambda: self._put(change, item))
        except CdcError as exc:
            return exc

    def _item_for(self, change: Change) -> dict[str, dict[str, Any]]:
        item = change_item(change)
        if "data" not in item or item_size(item) <= ITEM_LIMIT_BYTES:
            return item
        if self._overflow is None:
            msg = (
                f"document {change.key.table}/{change.key.doc_id} v{change.version} is larger "
                f"than DynamoDB's 400 KB item limit and no overflow location is configured"
            )
            raise UnstorableChangeError(msg)
        assert change.data is not None
        assert self._s3 is not None  # the constructor requires it with an overflow location
        body = large_documents.encode(change.data)
        overflow, s3 = self._overflow, self._s3
        ref = self._retry.run(lambda: large_documents.offload(s3, overflow, body))
        del item["data"]
        item["dataRef"] = ref.to_attribute()
        return item

    def _put(self, change: Change, item: dict[str, dict[str, Any]]) -> bool:
        values: dict[str, Any] = {":v": {"N": str(change.version)}}
        names = {"#v": "version"}
        condition = _CONDITION
        if change.is_redacted:
            condition = _REDACTION_CONDITION
            values[":false"] = {"BOOL": False}
            names["#r"] = "redacted"
        try:
            checked_call(
                self._client.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionFailedError:
            return False
        return True

    def table_of_document(self, document_id: str, table_id: str) -> str | None:
        """The ``ledgerTable`` of the item ``document_id`` (one strongly consistent ``GetItem``),
        unless the item records another ``tableId`` (``DocumentTableLookup``).

        Raises:
            RetryableError: the item could not be read after the retries.
        """
        try:
            key = {"pk": {"S": utf8_text(document_id)}}
        except UnstorableChangeError:
            return None  # no item can have this id
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": key,
            "ProjectionExpression": "ledgerTable, tableId",
            "ConsistentRead": True,
        }
        try:
            item = self._retry.run(lambda: checked_call(self._client.get_item, **kwargs))
        except PoisonError:
            return None  # the request was refused as invalid: no such item can exist
        found = item.get("Item") if isinstance(item, dict) else None
        if not found or "S" not in found.get("ledgerTable", {}):
            return None
        recorded = found.get("tableId", {}).get("S")
        if recorded is not None and recorded != table_id:
            return None
        return str(found["ledgerTable"]["S"])

    def completed_objects(self, export_id: str) -> set[str]:
        """Object keys checkpointed for ``export_id`` (one strongly consistent ``Query``)."""
        keys: set[str] = set()
        kwargs: dict[str, Any] = {
            "TableName": self._checkpoints,
            "KeyConditionExpression": "exportId = :e",
            "ExpressionAttributeValues": {":e": {"S": export_id}},
            "ProjectionExpression": "objectKey",
            "ConsistentRead": True,
        }
        while True:
            page = self._retry.run(lambda: checked_call(self._client.query, **kwargs))
            keys.update(item["objectKey"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return keys
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_object_complete(self, export_id: str, key: str) -> None:
        """Store the checkpoint item (``exportId``, ``objectKey``) in the checkpoints table."""
        item = {"exportId": {"S": export_id}, "objectKey": {"S": key}}
        self._retry.run(
            lambda: checked_call(self._client.put_item, TableName=self._checkpoints, Item=item)
        )

    def iter_current_state(self) -> Iterator[DocState]:
        """Every document item, by strongly consistent ``Scan`` pages of the documents table
        (only the metadata attributes are read; one page in memory at a time).

        Raises:
            RetryableError: a page could not be read after the retries.
        """
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "ProjectionExpression": "pk, ledgerTable, #v, deleted, redacted, revisionHash, "
            "blockStrand, blockSeq",
            "ExpressionAttributeNames": {"#v": "version"},
            "ConsistentRead": True,
            "Limit": _STATE_PAGE,
        }
        while True:
            page = self._retry.run(lambda: checked_call(self._client.scan, **kwargs))
            for item in page.get("Items", []):
                yield _item_state(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def close(self) -> None:
        """Stop the worker threads; the projection is unusable afterwards."""
        self._pool.shutdown(wait=True)


_STATE_PAGE = 1000
"""Items per ``Scan`` page of :meth:`DynamoDbProjection.iter_current_state` (at most 1 MB)."""


def _item_state(item: dict[str, Any]) -> DocState:
    """The :class:`DocState` of a document item (its block when the item has one).

    Raises:
        RetryableError: the item is not a projected document (someone else wrote it).
    """
    try:
        strand, seq = item.get("blockStrand", {}).get("S"), item.get("blockSeq", {}).get("N")
        return DocState(
            DocKey(item["ledgerTable"]["S"], item["pk"]["S"]),
            int(item["version"]["N"]),
            item.get("deleted", {}).get("BOOL") is True,
            item.get("redacted", {}).get("BOOL") is True,
            str(item["revisionHash"]["S"]),
            BlockAddress(strand, int(seq)) if isinstance(strand, str) and seq is not None else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        pk = item.get("pk", {}).get("S") if isinstance(item.get("pk"), dict) else None
        msg = f"DynamoDB item {pk!r} is not a projected document; move it away"
        raise RetryableError(msg) from exc


def from_uri(uri: str) -> DynamoDbProjection:
    """Parse ``uri`` (:func:`projections.dynamodb_target.parse`) and :func:`open_target` it.

    Raises:
        ConfigError / RetryableError: see both.
    """
    return parse_target(uri).open()


def open_target(target: DynamoDbTarget) -> DynamoDbProjection:
    """Build the clients and the projection of ``target``; create the tables when it says so.

    boto3 resolves credentials, region and endpoints itself (``AWS_ENDPOINT_URL``,
    ``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_ENDPOINT_URL_S3`` are honoured natively). botocore's
    own retries are disabled: :func:`aws_retry` does the backoff.

    Raises:
        ConfigError: a botocore configuration error while building the clients (no region,
            unknown profile, partial credentials), or, with ``create``, no AWS credentials at
            all.
        RetryableError: with ``create``, the table could not be created or checked.
    """
    config = client_config(DEFAULT_WORKERS + 4)
    what = f"the DynamoDB target {target.uri}"
    s3_client: S3Client | None = None
    if target.overflow is not None:
        s3_client = configured_client(lambda: boto3.client("s3", config=config), what)
    client = configured_client(lambda: boto3.client("dynamodb", config=config), what)
    projection = DynamoDbProjection(
        client, target.table, s3_client=s3_client, overflow=target.overflow
    )
    if target.create:
        try:
            projection.ensure_table()
        except CdcError as exc:
            projection.close()
            if isinstance(exc.__cause__, NoCredentialsError | PartialCredentialsError):
                msg = f"cannot create the table of {what}: {exc.__cause__}"
                raise ConfigError(msg) from exc
            raise
    return projection


__all__ = [
    "CHECKPOINT_TABLE_SUFFIX",
    "MAX_TABLE_NAME",
    "DynamoDbProjection",
    "ITEM_LIMIT_BYTES",
    "change_item",
    "checkpoint_table_name",
    "from_attribute_value",
    "from_uri",
    "item_size",
    "open_target",
    "read_document",
    "to_attribute_value",
]
