"""Which failures are worth retrying later. Orchestrators ask; core decides.

Transient: the source is unreachable or has not published yet, the network or a timeout, AWS
throttling and 5xx answers (through boto3 or pyarrow's S3 filesystem). Everything else (a
contract violation, a refused gate, a missing model, a bad argument, access denied) fails
the same way on every attempt, so retrying it only delays the alarm.
"""

from __future__ import annotations

import re

from core.contracts import ContractError
from core.errors import StaleDataError
from core.sources import SourceUnavailable

#: AWS error codes that mean "slow down", whatever the service.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "SlowDown",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestTimeout",
        "InternalError",
        "ServiceUnavailable",
    }
)

#: How pyarrow's S3 filesystem (AWS SDK for C++) words throttling, 5xx and network failures.
_ARROW_S3_TRANSIENT = re.compile(
    r"HTTP status 5\d\d|NETWORK_CONNECTION|SLOW_DOWN|THROTTLING|SERVICE_UNAVAILABLE"
    r"|INTERNAL_FAILURE|REQUEST_TIMEOUT|curlCode: 28"
)


def is_transient(exc: BaseException) -> bool:
    """True when the same call may well succeed if tried again a little later."""
    if isinstance(exc, ContractError):
        return False
    if isinstance(exc, SourceUnavailable | StaleDataError | TimeoutError | ConnectionError):
        return True
    if _is_transient_botocore(exc):
        return True
    # pyarrow raises plain OSError for S3 failures; only its message tells 503 from 403.
    return type(exc) is OSError and bool(_ARROW_S3_TRANSIENT.search(str(exc)))


def _is_transient_botocore(exc: BaseException) -> bool:
    from botocore import exceptions as boto

    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in THROTTLING_CODES or int(status) >= 500
    # botocore's ConnectionError covers endpoint, proxy and connect-timeout failures.
    return isinstance(exc, boto.ConnectionError | boto.HTTPClientError)
