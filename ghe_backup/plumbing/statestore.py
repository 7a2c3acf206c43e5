"""The account's state table (DynamoDB): the one place every machine sees the deploy lock, the
history and the backup status of an account.

A table with a partition key ``pk`` and a sort key ``sk`` (both strings), in the account and
region being deployed to. Items are plain dicts (strings, numbers, booleans, lists, mappings);
conversion to DynamoDB's typed values happens here. ``put_new`` is the atomic create-if-absent
the deploy lock is built on (a conditional write, as Terraform's S3 backend locks with DynamoDB).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ghe_backup.errors import ConfigError, StageFailed, Unreachable
from ghe_backup.plumbing.aws import AccountAccess, aws_message, is_transient, worth_retrying

#: Docs anchor for creating the table in a real account.
SETUP_HINT = "create it once per account: see docs/operations.md#the-state-table"
#: DynamoDB answers single-item calls in milliseconds. The history and the lock release are written
#: as a deploy ends, also when it ends because AWS stopped answering: a hung endpoint costs each of
#: them at most 2 tries of 5 s.
TABLE_CONFIG = Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=5)


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(_decimals(v)) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: _plain(deserializer.deserialize(v)) for k, v in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_plain(v) for v in value]
    return value


class StateTable:
    """One account's state table, through ``access`` (the deploy role's credentials)."""

    def __init__(self, access: AccountAccess, table: str, account: str):
        self.table, self.account = table, account
        self.client = access.client("dynamodb", config=TABLE_CONFIG)

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        retrying = Retrying(
            wait=wait_exponential(multiplier=0.25, max=2),
            stop=stop_after_attempt(4),
            retry=retry_if_exception(worth_retrying),
            reraise=True,
        )
        try:
            return retrying(fn, TableName=self.table, **kwargs)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise
            if code == "ResourceNotFoundException":
                raise ConfigError(
                    f"{self.account}: the state table {self.table} does not exist", hint=SETUP_HINT
                ) from None
            if code in ("AccessDeniedException", "UnrecognizedClientException"):
                raise ConfigError(
                    f"{self.account}: no access to the state table {self.table}: {aws_message(err)}",
                    hint="the deploy role needs dynamodb:GetItem/PutItem/UpdateItem/DeleteItem/Query on it",
                ) from None
            if is_transient(err):
                raise Unreachable(f"{self.account}: {what}: DynamoDB did not answer: {aws_message(err)}") from None
            raise StageFailed(f"{self.account}: {what}: {aws_message(err)}") from None
        except BotoCoreError as err:
            raise Unreachable(f"{self.account}: {what}: DynamoDB unreachable: {type(err).__name__}") from None

    def put_new(self, item: dict[str, Any]) -> bool:
        """Write ``item`` only if no item has its key; False when one has."""
        try:
            self._call(
                "writing " + item["pk"],
                self.client.put_item,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError:  # only the failed condition gets here
            return False
        return True

    def put(self, item: dict[str, Any]) -> None:
        self._call("writing " + item["pk"], self.client.put_item, Item=to_item(item))

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self._call(
            f"reading {pk}", self.client.get_item, Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        return from_item(found["Item"]) if found.get("Item") else None

    def delete(self, pk: str, sk: str, *, only_if: dict[str, Any] | None = None) -> bool:
        """Delete the item; with ``only_if``, only while those attributes still have those values."""
        options: dict[str, Any] = {}
        if only_if:
            names = {f"#a{i}": k for i, k in enumerate(only_if)}
            values = {f":v{i}": v for i, v in enumerate(only_if.values())}
            options = {
                "ConditionExpression": " AND ".join(f"#a{i} = :v{i}" for i in range(len(only_if))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        try:
            self._call(f"deleting {pk}", self.client.delete_item, Key=to_item({"pk": pk, "sk": sk}), **options)
        except ClientError:
            return False
        return True

    def query(self, pk: str, *, limit: int | None = None, newest_first: bool = True) -> list[dict[str, Any]]:
        """Items of ``pk`` ordered by ``sk`` (newest first by default)."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] = {}
        while True:
            page = self._call(
                f"reading {pk}",
                self.client.query,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues=to_item({":p": pk}),
                ScanIndexForward=not newest_first,
                ConsistentRead=True,
                **({"Limit": limit - len(items)} if limit else {}),
                **start,
            )
            items += [from_item(i) for i in page.get("Items", [])]
            if not page.get("LastEvaluatedKey") or (limit and len(items) >= limit):
                return items
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
