"""Addresses a browser opens for objects in the lake (the evaluation's charts).

A browser opens neither ``file://`` from an http page nor ``s3://`` at all, so:

- on S3, a presigned HTTPS GET URL (SigV4, through boto3, the same endpoint as the lake). It
  is valid for ``expires_s`` seconds at most: S3 refuses a presigned URL once the credentials
  that signed it have expired, and an ECS task role's credentials last a few hours (AWS
  knowledge center, "Why is my presigned URL for an Amazon S3 bucket expiring before the
  expiration time that I specified?"), so a link made in a flow run may die sooner. The stated
  expiry is therefore an upper bound, and says so.
- on a local folder, a ``data:`` URL holding the object itself: an image embedded in a
  Prefect markdown artifact shows without any click, and needs no server.
"""

from __future__ import annotations

import base64
import datetime as dt
import mimetypes
from dataclasses import dataclass
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from core.lake import Lake

#: SigV4 presigned URLs live at most 7 days (S3's limit).
MAX_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True)
class ObjectLink:
    """A browser-openable address of one lake object."""

    key: str  # relative to the lake root
    url: str  # https://... (presigned) or data:<mime>;base64,...
    expires_at: dt.datetime | None  # upper bound of a presigned URL's life; None: never

    @property
    def expiry_note(self) -> str:
        """What a reader needs to know about how long the link works."""
        if self.expires_at is None:
            return "embedded: does not expire"
        return (
            f"link valid until {self.expires_at:%Y-%m-%d %H:%M} UTC at the latest (sooner if "
            "the credentials that signed it expire first)"
        )


def object_link(
    lake: Lake,
    key: str,
    *,
    expires_s: int,
    endpoint_url: str | None = None,
    now: dt.datetime | None = None,
) -> ObjectLink:
    """A link to ``key`` (relative to the lake root) that opens in a browser.

    Raises FileNotFoundError for a local object that does not exist, ValueError for an expiry
    outside 1 s..7 days. Presigning needs no request to S3 (it signs locally).
    """
    if not 1 <= expires_s <= MAX_EXPIRY_S:
        raise ValueError(f"expires_s must be within 1..{MAX_EXPIRY_S} s, got {expires_s}")
    parsed = urlparse(lake.uri)
    if parsed.scheme == "s3":
        bucket, _, prefix = lake.root.partition("/")
        client = boto3.client(
            "s3", endpoint_url=endpoint_url, config=Config(signature_version="s3v4")
        )
        url = client.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": f"{prefix}/{key}" if prefix else key},
            ExpiresIn=expires_s,
        )
        start = now or dt.datetime.now(dt.UTC)
        return ObjectLink(key, url, start + dt.timedelta(seconds=expires_s))
    mime = mimetypes.guess_type(key)[0] or "application/octet-stream"
    data = base64.b64encode(lake.get_bytes(key)).decode("ascii")
    return ObjectLink(key, f"data:{mime};base64,{data}", None)
