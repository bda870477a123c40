"""Optional DynamoDB mirror of ``predictions_daily``: one item per date, for cheap key lookups.

The lake stays the source of truth; the mirror is a derived copy that AWS deployments may
enable (``VOLCAST_DYNAMODB_TABLE``) so consumers can fetch a day's forecast without reading
Parquet. This is the only module in core/ that imports boto3.

Item shape (partition key ``date``, type S)::

    date          S  "YYYY-MM-DD"
    rv_5d_hat     N  (the float's shortest round-trip decimal text)
    model_version S
    top_drivers   L  [M {feature: S, value: N, shap: N}, ...]
    regime, regime_prob   only when not null
    rv_5d_lo, rv_5d_hi    N, the forecast band, only when not null
    content_hash  S  sha256 of the fields above
    updated_at    S  UTC ISO time the content last changed

Idempotent: an upsert first reads the stored ``content_hash`` of its dates (BatchGetItem) and
rewrites only new or changed items, so a re-run leaves every item, ``updated_at`` included,
exactly as it was, and the item count never grows (PutItem on the same key overwrites).
DynamoDB rejects Python floats: numbers go through ``Decimal(repr(x))``, which reads back as the
same float.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from decimal import Decimal
from typing import Any

import boto3
import pandas as pd
from botocore.exceptions import ClientError

from core import contracts
from core.config import Settings

log = logging.getLogger(__name__)

KEY = "date"
_BATCH_GET = 100  # DynamoDB BatchGetItem limit
_MAX_RETRIES = 8


class MirrorTableMissing(RuntimeError):
    """The configured DynamoDB table does not exist."""


def _num(value: Any) -> Decimal:
    return Decimal(repr(float(value)))


def _day(value: Any) -> str:
    return pd.Timestamp(value).date().isoformat()


def _from_dynamo(value: Any) -> Any:
    """Decimals back to floats, recursively (what a reader of the mirror expects)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    return value


class DynamoPredictionMirror:
    """Upsert and read ``predictions_daily`` rows in a DynamoDB table keyed by ``date``."""

    def __init__(self, table_name: str, endpoint_url: str | None = None, region: str | None = None):
        if not table_name:
            raise ValueError("table_name is required")
        self.table_name = table_name
        self.endpoint_url = endpoint_url
        self.region = (
            region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        self._resource = boto3.resource(
            "dynamodb", endpoint_url=endpoint_url, region_name=self.region
        )
        self._table = self._resource.Table(table_name)
        self._checked = False

    # -- public -----------------------------------------------------------------------------
    def upsert(self, predictions: pd.DataFrame) -> int:
        """Mirror ``predictions`` (predictions_daily rows); returns how many items were
        written, i.e. new or changed dates (0 on an identical re-run)."""
        if predictions.empty:
            return 0
        self._ensure_table()
        frame = contracts.validate(contracts.PREDICTIONS, predictions)
        items = {item[KEY]: item for item in (self._item(row) for row in frame.to_dict("records"))}
        stored = self._stored_hashes(list(items))
        changed = [i for d, i in items.items() if stored.get(d) != i["content_hash"]]
        if changed:
            stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            try:
                with self._table.batch_writer(overwrite_by_pkeys=[KEY]) as batch:
                    for item in changed:
                        batch.put_item(Item={**item, "updated_at": stamp})
            except ClientError as exc:
                self._raise_if_missing(exc)
                raise
        log.info(
            "DynamoDB %s: %d of %d prediction dates written (%d unchanged)",
            self.table_name,
            len(changed),
            len(items),
            len(items) - len(changed),
        )
        return len(changed)

    def get(self, date: Any) -> dict[str, Any] | None:
        """The stored item for ``date`` (str/date/Timestamp) with floats, or None."""
        self._ensure_table()
        try:
            found = self._table.get_item(Key={KEY: _day(date)}, ConsistentRead=True)
        except ClientError as exc:
            self._raise_if_missing(exc)
            raise
        item = found.get("Item")
        return None if item is None else _from_dynamo(item)

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _item(row: dict[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {
            KEY: _day(row["date"]),
            "rv_5d_hat": _num(row["rv_5d_hat"]),
            "model_version": str(row["model_version"]),
            "top_drivers": [
                {"feature": str(d["feature"]), "value": _num(d["value"]), "shap": _num(d["shap"])}
                for d in row["top_drivers"]
            ],
        }
        if row.get("regime") is not None and not pd.isna(row["regime"]):
            content["regime"] = str(row["regime"])
        if row.get("regime_prob") is not None and not pd.isna(row["regime_prob"]):
            content["regime_prob"] = _num(row["regime_prob"])
        for bound in ("rv_5d_lo", "rv_5d_hi"):
            if row.get(bound) is not None and not pd.isna(row[bound]):
                content[bound] = _num(row[bound])
        canonical = json.dumps(content, sort_keys=True, default=str).encode()
        return {**content, "content_hash": hashlib.sha256(canonical).hexdigest()}

    def _stored_hashes(self, dates: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for start in range(0, len(dates), _BATCH_GET):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": [{KEY: d} for d in dates[start : start + _BATCH_GET]],
                    "ProjectionExpression": "#k, content_hash",
                    "ExpressionAttributeNames": {"#k": KEY},  # DATE is a reserved word
                    "ConsistentRead": True,
                }
            }
            for _ in range(_MAX_RETRIES):
                try:
                    reply = self._resource.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    self._raise_if_missing(exc)
                    raise
                for item in reply.get("Responses", {}).get(self.table_name, []):
                    out[item[KEY]] = str(item.get("content_hash", ""))
                request = reply.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise RuntimeError(f"DynamoDB {self.table_name}: BatchGetItem kept throttling")
        return out

    def _ensure_table(self) -> None:
        """Fail once, early and clearly, if the table is missing or keyed differently."""
        if self._checked:
            return
        try:
            self._table.load()
        except ClientError as exc:
            self._raise_if_missing(exc)
            raise
        keys = [(k["AttributeName"], k["KeyType"]) for k in self._table.key_schema]
        if keys != [(KEY, "HASH")]:
            raise ValueError(
                f"DynamoDB table {self.table_name!r} has key schema {keys}; "
                f"the predictions mirror needs a partition key {KEY!r} (S) and no sort key"
            )
        self._checked = True

    def _raise_if_missing(self, exc: ClientError) -> None:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            where = self.endpoint_url or f"AWS region {self.region}"
            raise MirrorTableMissing(
                f"DynamoDB table {self.table_name!r} does not exist ({where}). "
                "In AWS, Terraform declares it (terraform/modules/dynamodb); elsewhere create "
                f"it with partition key {KEY!r} of type S, e.g. `aws dynamodb create-table "
                f"--table-name {self.table_name} --attribute-definitions "
                f"AttributeName={KEY},AttributeType=S --key-schema "
                f"AttributeName={KEY},KeyType=HASH --billing-mode PAY_PER_REQUEST`, "
                "or unset VOLCAST_DYNAMODB_TABLE to disable the mirror"
            ) from exc


def mirror_from_settings(settings: Settings) -> DynamoPredictionMirror | None:
    """The configured mirror, or None when VOLCAST_DYNAMODB_TABLE is unset (local default)."""
    if not settings.dynamodb_table:
        return None
    return DynamoPredictionMirror(settings.dynamodb_table, endpoint_url=settings.aws_endpoint_url)
