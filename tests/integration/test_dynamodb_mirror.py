"""The DynamoDB predictions mirror against a moto server (real boto3 HTTP calls)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import boto3
import pandas as pd
import pytest

from core.calendar import trading_days
from core.config import Settings
from core.mirror import DynamoPredictionMirror, MirrorTableMissing, mirror_from_settings

pytestmark = pytest.mark.integration


def predictions(values: dict[str, float], model_version: str = "20261125T221500Z-ab12cd34"):
    dates = list(values)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(dates),
            "rv_5d_hat": list(values.values()),
            "top_drivers": [
                [
                    {"feature": "vix", "value": 17.25, "shap": 0.0123456789},
                    {"feature": "rv_5d", "value": 0.1, "shap": -0.004},
                ]
                for _ in dates
            ],
            "model_version": model_version,
            "regime": None,
            "regime_prob": None,
        }
    )


@pytest.fixture
def table(moto_endpoint: str) -> str:
    """A fresh table encrypted with a customer KMS key, as Terraform declares it."""
    kms = boto3.client("kms", endpoint_url=moto_endpoint)
    key_id = kms.create_key(Description="volcast dynamodb")["KeyMetadata"]["KeyId"]
    name = f"volcast-predictions-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "date", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "date", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_id},
    )
    sse = client.describe_table(TableName=name)["Table"]["SSEDescription"]
    assert sse["SSEType"] == "KMS" and key_id in sse["KMSMasterKeyArn"]
    return name


def scan(endpoint: str, name: str) -> list[dict]:
    items = boto3.resource("dynamodb", endpoint_url=endpoint).Table(name).scan()["Items"]
    return sorted(items, key=lambda i: i["date"])


def test_upsert_is_idempotent_and_updates_in_place(moto_endpoint: str, table: str) -> None:
    mirror = DynamoPredictionMirror(table, endpoint_url=moto_endpoint)
    frame = predictions({"2024-03-04": 0.1234, "2024-03-05": 0.15, "2024-03-06": 0.3333333333333})

    assert mirror.upsert(frame) == 3
    first = scan(moto_endpoint, table)
    assert [i["date"] for i in first] == ["2024-03-04", "2024-03-05", "2024-03-06"]
    raw = first[0]
    assert raw["rv_5d_hat"] == Decimal("0.1234")  # stored as N, the float's exact text
    assert raw["model_version"] == "20261125T221500Z-ab12cd34"
    assert raw["top_drivers"][0] == {
        "feature": "vix",
        "value": Decimal("17.25"),
        "shap": Decimal("0.0123456789"),
    }
    assert "regime" not in raw and raw["updated_at"].endswith("Z")

    assert mirror.upsert(frame) == 0  # re-run: nothing rewritten
    assert scan(moto_endpoint, table) == first  # same items, updated_at included

    changed = predictions({"2024-03-05": 0.2})
    assert mirror.upsert(changed) == 1
    after = {i["date"]: i for i in scan(moto_endpoint, table)}
    assert len(after) == 3
    assert after["2024-03-05"]["rv_5d_hat"] == Decimal("0.2")
    assert after["2024-03-04"] == first[0]  # untouched

    got = mirror.get(pd.Timestamp("2024-03-06"))
    assert got is not None
    assert got["rv_5d_hat"] == 0.3333333333333  # round-trips to the same float
    assert got["top_drivers"][1] == {"feature": "rv_5d", "value": 0.1, "shap": -0.004}
    assert mirror.get("2024-03-07") is None


def test_a_new_model_version_rewrites_the_item(moto_endpoint: str, table: str) -> None:
    mirror = DynamoPredictionMirror(table, endpoint_url=moto_endpoint)
    mirror.upsert(predictions({"2024-03-04": 0.12}))
    assert mirror.upsert(predictions({"2024-03-04": 0.12}, model_version="v2")) == 1
    got = mirror.get("2024-03-04")
    assert got is not None and got["model_version"] == "v2"


def test_invalid_rows_are_refused_before_any_write(moto_endpoint: str, table: str) -> None:
    mirror = DynamoPredictionMirror(table, endpoint_url=moto_endpoint)
    bad = predictions({"2024-03-04": 0.12, "2024-03-05": float("nan")})
    with pytest.raises(ValueError, match="rv_5d_hat"):
        mirror.upsert(bad)
    assert scan(moto_endpoint, table) == []


def test_missing_table_says_what_to_do(moto_endpoint: str) -> None:
    mirror = DynamoPredictionMirror("volcast-no-such-table", endpoint_url=moto_endpoint)
    with pytest.raises(MirrorTableMissing) as err:
        mirror.upsert(predictions({"2024-03-04": 0.12}))
    message = str(err.value)
    assert "'volcast-no-such-table' does not exist" in message
    assert "create-table" in message and "Terraform" in message
    with pytest.raises(MirrorTableMissing):
        mirror.get("2024-03-04")


def test_wrongly_keyed_table_is_refused(moto_endpoint: str) -> None:
    name = f"volcast-wrong-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb", endpoint_url=moto_endpoint).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "day", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "day", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(ValueError, match="partition key 'date'"):
        DynamoPredictionMirror(name, endpoint_url=moto_endpoint).get("2024-03-04")


def test_mirror_from_settings(moto_endpoint: str) -> None:
    assert mirror_from_settings(Settings(dynamodb_table=None)) is None
    mirror = mirror_from_settings(
        Settings(dynamodb_table="volcast-x", aws_endpoint_url=moto_endpoint)
    )
    assert mirror is not None
    assert (mirror.table_name, mirror.endpoint_url) == ("volcast-x", moto_endpoint)


def test_backfill_larger_than_one_batch(moto_endpoint: str, table: str) -> None:
    days = trading_days("2023-01-03", "2023-12-29")  # 250 sessions: 3 BatchGetItem pages
    frame = predictions({d.date().isoformat(): 0.1 + i * 1e-4 for i, d in enumerate(days)})
    mirror = DynamoPredictionMirror(table, endpoint_url=moto_endpoint)
    assert mirror.upsert(frame) == len(days) == 250
    assert mirror.upsert(frame) == 0
    assert len(scan(moto_endpoint, table)) == 250
