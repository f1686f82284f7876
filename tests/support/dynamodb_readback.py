"""Reading a DynamoDB projection's table back (all pages, overflow documents resolved)."""

from __future__ import annotations

from typing import Any

from projections.dynamodb import read_document
from tests.support.projection_harness import CurrentRow


def scan_all(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` (strongly consistent, all pages)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def item_row(item: dict[str, Any], s3: Any) -> CurrentRow:
    """The normalised current row of one stored document item."""
    return CurrentRow(
        version=int(item["version"]["N"]),
        deleted=item["deleted"]["BOOL"],
        redacted=item["redacted"]["BOOL"],
        data=read_document(item, s3),
        tx_id=item["txId"]["S"],
        tx_time=item["txTime"]["S"],
        revision_hash=item["revisionHash"]["S"],
    )
