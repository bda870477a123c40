"""Serving: the snapshot the API answers from (state) and its loading and refresh (holder).

No web framework here: api/ maps these objects and errors to HTTP.
"""

from core.serving.holder import ServingHolder
from core.serving.state import (
    FeatureTable,
    FeatureVectorError,
    Forecast,
    Freshness,
    NoFeaturesError,
    ServedVersion,
    ServingModel,
    ServingState,
)

__all__ = [
    "FeatureTable",
    "FeatureVectorError",
    "Forecast",
    "Freshness",
    "NoFeaturesError",
    "ServedVersion",
    "ServingHolder",
    "ServingModel",
    "ServingState",
]
