"""The domain's errors that cross layers: the steps raise them, serving raises them, the CLI,
the flows, the API and the retry policy (core.transient) catch them. Errors that belong to one
module stay there (ContractError in core.contracts, RegistryError in core.models.registry,
SourceError in core.sources).
"""

from __future__ import annotations


class IngestError(RuntimeError):
    """The source did not deliver complete data for the requested days, or a step's input
    partitions are missing; nothing was written."""


class StaleDataError(IngestError):
    """The source has not (yet) published every requested day: a later retry may succeed."""


class NoModelError(RuntimeError):
    """Nothing to score with: no version promoted (or pinned) yet, or the serving version cannot
    be loaded or lacks features the lake holds. The API answers it with 503."""
