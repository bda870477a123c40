"""The model registry: immutable model versions and a production pointer, on the lake.

Layout (same on a local folder and on S3, under the lake root)::

    artifacts/model/<version>/<file>...            the caller's files (model.cbm, ...)
    artifacts/model/<version>/metadata.json        written LAST: its presence completes a version
    artifacts/model/<version>/events/<ts>-<id>.json one object per promotion/retirement event
    artifacts/model/PRODUCTION                     JSON pointer to the promoted version

Why this shape:
- Versions are immutable. ``register`` refuses a version folder that already holds anything,
  writes the files, then ``metadata.json``; a crash in between leaves a folder without
  metadata, which ``list``/``show``/``resolve`` treat as absent. metadata.json records each
  file's sha256, and ``load_files`` verifies them, so a version is exactly what was registered.
- What happens to a version later (promoted, retired, rolled back to, promoted with an override
  of its gate) is history, not part of the version. It is appended as one new object per event
  under ``events/``: nothing registered is ever rewritten, and S3 needs no read-modify-write
  for it. ``show`` merges metadata and events (plus derived ``promotions`` and ``override``).
- Switching production is one object PUT of ``PRODUCTION`` (atomic on S3 and, via
  temp+rename, locally). The pointer carries a ``previous`` stack of earlier production
  entries, so ``rollback`` needs nothing but the pointer. Format::

      {"format": 1, "version": "<id>", "promoted_at": "<UTC ISO>", "via": "promote"|"rollback",
       "override": null | "<reason>", "reason": null | "<why it serves>",
       "previous": [<entries like this, no "previous">, ...]}

  ``previous`` is most-recent first and capped at ``HISTORY_LIMIT``. A plain-text pointer that
  holds just a version id (an operator's manual fix) is read as a pointer without history.
- The pointer is written before the events: the pointer is the decision, events are its
  audit trail. Concurrent promoters are last-writer-wins (one scheduled train run is assumed).
- Version ids are ``<UTC %Y%m%dT%H%M%SZ>-<8 hex of the content hash>``: they sort by creation
  time, are unique per content and second, and say when a model was made at a glance.
- ``VOLCAST_MODEL_VERSION`` (a pin) beats PRODUCTION in ``resolve``: rolling back a serving
  fleet must not depend on the train pipeline.
- Identity: two versions are the same model when ``identity_hash`` of their metadata agrees
  (kind, features, params, training data, code version and whether the gate passed; see
  IDENTITY_KEYS). ``register`` records each version under
  ``artifacts/model/_identity/<identity hash>``, so ``find_identical`` answers "was this
  exact model registered already?" with one GET and a re-train on the same data and code can
  reuse it instead of registering a duplicate. The model files are not part of the identity:
  CatBoost writes a fresh model GUID into every .cbm, so two fits that predict identically
  differ in bytes. Versions registered before the index existed are never found by it.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import logging
import math
import re
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path, PurePosixPath
from typing import Any

from pyarrow import fs as pafs

from core.config import Settings
from core.lake import Lake

log = logging.getLogger(__name__)

PREFIX = "artifacts/model"
POINTER_KEY = f"{PREFIX}/PRODUCTION"
METADATA_FILE = "metadata.json"
EVENTS_DIR = "events"
HISTORY_LIMIT = 50
POINTER_FORMAT = 1
#: Keys the caller must put in the metadata passed to ``register``.
REQUIRED_METADATA = ("features", "training_data", "params", "metrics", "gate")
#: What a version without ``kind`` in its metadata is: every version before kinds existed was
#: a CatBoost model (core.models.servable names the kinds).
LEGACY_KIND = "catboost"
#: Keys only the registry writes.
REGISTRY_KEYS = ("version", "created_at", "content_hash", "files")
#: The metadata that makes a model what it is: fitting is seeded, so the same values give a
#: model that predicts the same numbers. The gate's verdict (passed or not) is part of it too,
#: as promotion reads it from the version; its figures and wording are not (the champion they
#: were compared with, and why a baseline was fitted, change nothing in the model).
IDENTITY_KEYS = ("kind", "features", "params", "training_data", "code_version")
IDENTITY_DIR = "_identity"
#: How a person promotes a version by hand, against its gate when it must be (flows/cli.py).
PROMOTE_HINT = "`volcast models promote VERSION --override REASON`"

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_REPO = Path(__file__).resolve().parents[2]


class RegistryError(RuntimeError):
    """Base class of the registry's refusals."""


class VersionExists(RegistryError):
    """A version id is taken (complete or half-written): versions are never overwritten."""


class VersionNotFound(RegistryError, LookupError):
    """No complete version with that id (absent, or missing its metadata.json)."""


class GateRefused(RegistryError):
    """Promotion of a version its gate did not pass, without an override reason."""


class NoPreviousVersion(RegistryError):
    """Rollback asked for but the PRODUCTION pointer holds no earlier version."""


@dataclass(frozen=True)
class VersionInfo:
    """One line of ``list``: enough to choose a version without opening its metadata."""

    version: str
    created_at: str
    promoted: bool  # is the current production version
    gate_passed: bool
    metrics: dict[str, float]  # the numeric top-level entries of metadata["metrics"]
    kind: str  # metadata["kind"] (see core.models.servable); LEGACY_KIND when absent
    asof: str | None  # metadata["training_data"]["asof"]: the session it was trained as of


def _utc_iso(moment: dt.datetime, timespec: str = "seconds") -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def code_version() -> str:
    """What code trained the model: $VOLCAST_CODE_VERSION, else git HEAD, else package version.

    Containers have no .git, so the image build sets VOLCAST_CODE_VERSION; a dirty git working
    tree is marked ``+dirty`` because its SHA alone would not reproduce the model.
    """
    pinned = (Settings().code_version or "").strip()
    if pinned:
        return pinned
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True, timeout=10
        )
        if sha.returncode == 0 and sha.stdout.strip():
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=_REPO,
                capture_output=True,
                text=True,
                timeout=10,
            )
            dirty = "+dirty" if status.returncode == 0 and status.stdout.strip() else ""
            return sha.stdout.strip() + dirty
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"volcast=={importlib_metadata.version('volcast')}"
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, dates as ISO text, NaN/inf as null."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN; other readers (Athena, jq) choke on it
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"metadata value {value!r} ({type(value).__name__}) is not JSON-serializable")


def _dumps(obj: Any) -> bytes:
    return (json.dumps(_jsonable(obj), sort_keys=True, indent=2, allow_nan=False) + "\n").encode()


def identity_hash(metadata: Mapping[str, Any]) -> str:
    """sha256 of what makes a version the same model (IDENTITY_KEYS + the gate's ``passed``);
    metadata without ``code_version`` gets this code's, as ``register`` would give it."""
    gate = metadata.get("gate") or {}
    body = {key: metadata.get(key) for key in IDENTITY_KEYS}
    if body["code_version"] is None:
        body["code_version"] = code_version()
    body["gate_passed"] = gate.get("passed")
    return hashlib.sha256(_dumps(body)).hexdigest()


def _check_version_id(version: str) -> str:
    if not isinstance(version, str) or not _VERSION_RE.match(version) or version == "PRODUCTION":
        raise ValueError(
            f"invalid version id {version!r}: letters, digits, '.', '_', '-' (max 128), "
            "starting with a letter or digit"
        )
    return version


def _identity_key(digest: str) -> str:
    return f"{PREFIX}/{IDENTITY_DIR}/{digest}.json"


def _check_file_name(name: str) -> str:
    parts = PurePosixPath(name).parts
    if (
        not parts
        or name.startswith("/")
        or not all(_SEGMENT_RE.match(p) for p in parts)
        or name == METADATA_FILE
        or parts[0] == EVENTS_DIR
    ):
        raise ValueError(
            f"invalid artifact file name {name!r}: a relative path of [A-Za-z0-9._-] segments, "
            f"not {METADATA_FILE!r} nor under {EVENTS_DIR!r}/"
        )
    return "/".join(parts)


def _check_metadata(metadata: Mapping[str, Any]) -> None:
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ValueError(f"model metadata lacks {missing}; required: {list(REQUIRED_METADATA)}")
    reserved = [k for k in REGISTRY_KEYS if k in metadata]
    if reserved:
        raise ValueError(f"metadata keys {reserved} are set by the registry, not the caller")
    features = metadata["features"]
    if (
        not isinstance(features, list | tuple)
        or not features
        or not all(isinstance(f, str) and f for f in features)
        or len(set(features)) != len(features)
    ):
        raise ValueError("metadata['features'] must be a non-empty ordered list of unique names")
    data = metadata["training_data"]
    if not isinstance(data, Mapping) or not {"start", "end", "content_hash"} <= set(data):
        raise ValueError(
            "metadata['training_data'] must be a mapping with start, end and content_hash"
        )
    gate = metadata["gate"]
    if not isinstance(gate, Mapping) or not isinstance(gate.get("passed"), bool):
        raise ValueError("metadata['gate'] must be a gate decision dict with a boolean 'passed'")
    for key in ("params", "metrics"):
        if not isinstance(metadata[key], Mapping):
            raise ValueError(f"metadata[{key!r}] must be a mapping")


class ModelRegistry:
    """Model versions on a :class:`~core.lake.Lake` (see the module docstring for the layout)."""

    def __init__(self, lake: Lake, clock: Callable[[], dt.datetime] = _now):
        self.lake = lake
        self._clock = clock

    # -- writing ----------------------------------------------------------------------------
    def register(
        self,
        files: Mapping[str, bytes],
        metadata: Mapping[str, Any],
        *,
        version: str | None = None,
    ) -> str:
        """Store a new immutable version and return its id. Never promotes.

        ``files`` maps relative names to contents; ``metadata`` must hold REQUIRED_METADATA
        (``training_data`` = {start, end, content_hash}; ``gate`` = GateDecision.to_dict()).
        ``code_version`` is filled in unless given. ``version`` overrides the generated id
        (imports, tests); an id that already has any object raises VersionExists.
        """
        if not files:
            raise ValueError("a model version needs at least one file")
        _check_metadata(metadata)
        names = {_check_file_name(name): bytes(data) for name, data in files.items()}
        manifest = {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in sorted(names.items())
        }
        body = dict(_jsonable(dict(metadata)))
        body.setdefault("code_version", code_version())
        created = self._clock()
        digest = hashlib.sha256(_dumps({"files": manifest, "metadata": body})).hexdigest()
        if version is None:
            version = f"{created.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{digest[:8]}"
        _check_version_id(version)
        leftovers = self._objects(f"{PREFIX}/{version}")
        if leftovers:
            state = "complete" if self._is_complete(version) else "half-written"
            raise VersionExists(
                f"model version {version!r} already exists ({state}, {len(leftovers)} objects): "
                "versions are immutable; register under a new id"
            )
        for name, data in names.items():
            self.lake.put_bytes(f"{PREFIX}/{version}/{name}", data)
        body |= {
            "version": version,
            "created_at": _utc_iso(created),
            "content_hash": digest,
            "files": manifest,
        }
        self.lake.put_bytes(f"{PREFIX}/{version}/{METADATA_FILE}", _dumps(body))
        self.lake.put_bytes(_identity_key(identity_hash(body)), _dumps({"version": version}))
        log.info("registered model version %s (%d files)", version, len(names))
        return version

    def find_identical(self, metadata: Mapping[str, Any]) -> str | None:
        """The complete version that is the same model as ``metadata`` describes (same
        ``identity_hash``), or None: a re-train on the same data and code finds its earlier
        self here. The index entry is checked against the version's own metadata."""
        digest = identity_hash(_jsonable(dict(metadata)))
        try:
            version = str(json.loads(self.lake.get_bytes(_identity_key(digest)))["version"])
            found = self._metadata(version)
        except (FileNotFoundError, VersionNotFound, KeyError, ValueError):
            return None
        return version if identity_hash(found) == digest else None

    def promote(
        self, version: str, *, override: str | None = None, reason: str | None = None
    ) -> None:
        """Point PRODUCTION at ``version``; the current one goes onto the rollback stack.

        Refuses (GateRefused) a version whose gate did not pass unless ``override`` gives a
        reason, which the pointer and the version's events record. ``reason`` says why it
        serves (recorded in the pointer and the event; the override's reason when omitted).
        Promoting the version that is already production is a no-op, so a re-run of the train
        step changes nothing.
        """
        forced = self.check_promotable(version, override)
        current = self.pointer()
        if current is not None and current["version"] == version:
            log.info("model version %s is already production: nothing to do", version)
            return
        entry = {
            "version": version,
            "promoted_at": self._stamp(),
            "via": "promote",
            "override": forced,
            "reason": reason or (f"override: {forced}" if forced else None),
        }
        self._switch(entry, current, via="promote")
        if forced:
            log.warning("model version %s promoted against its gate: %s", version, forced)

    def check_promotable(self, version: str, override: str | None = None) -> str | None:
        """Raise GateRefused unless ``version`` passed its gate or ``override`` gives a reason;
        return the stripped reason (None without one)."""
        reason = override.strip() if override else None
        gate = self._metadata(version).get("gate") or {}
        if not gate.get("passed", False) and not reason:
            raise GateRefused(
                f"model version {version} did not pass its gate "
                f"({gate.get('reason', 'no reason recorded')}); "
                f"force it with an override reason: {PROMOTE_HINT}"
            )
        return reason

    def rollback(self) -> str:
        """Point PRODUCTION back at the previous production version and return its id."""
        current = self.pointer()
        if current is None or not current.get("previous"):
            raise NoPreviousVersion(
                "no earlier production version to roll back to "
                f"(PRODUCTION is {current['version'] if current else 'unset'})"
            )
        target, *older = current["previous"]
        self._metadata(target["version"])  # it must still be a complete version
        entry = {
            "version": target["version"],
            "promoted_at": self._stamp(),
            "via": "rollback",
            "override": target.get("override"),
            "reason": f"rolled back from {current['version']}",
        }
        self._switch(entry, {**current, "previous": older}, via="rollback", stack_current=False)
        return str(target["version"])

    # -- reading ----------------------------------------------------------------------------
    def production(self) -> str | None:
        """The version PRODUCTION points at, or None before the first promotion."""
        pointer = self.pointer()
        return None if pointer is None else str(pointer["version"])

    def resolve(self, pinned: str | None = None) -> str | None:
        """The version to serve: the pin (VOLCAST_MODEL_VERSION) if set, else PRODUCTION.

        Raises VersionNotFound when the pin, or the pointer's target, is not a complete
        version: serving something else silently would hide the mistake.
        """
        if pinned:
            self._metadata(pinned)
            return pinned
        version = self.production()
        if version is not None and not self._is_complete(version):
            raise VersionNotFound(f"{POINTER_KEY} points to {version!r}, which does not exist")
        return version

    def show(self, version: str) -> dict[str, Any]:
        """metadata.json plus ``events`` and what they imply: ``promotions`` (the promotion
        events), ``override`` (the last override reason) and ``is_production``."""
        meta = self._metadata(version)
        events = self.events(version)
        promotions = [e for e in events if e.get("event") == "promoted"]
        overrides = [e["override"] for e in promotions if e.get("override")]
        return {
            **meta,
            "events": events,
            "promotions": promotions,
            "override": overrides[-1] if overrides else None,
            "is_production": self.production() == version,
        }

    def events(self, version: str) -> builtins.list[dict[str, Any]]:
        """The version's events, oldest first."""
        keys = sorted(
            k for k in self._objects(f"{PREFIX}/{version}/{EVENTS_DIR}") if k.endswith(".json")
        )
        out = [json.loads(self.lake.get_bytes(k)) for k in keys]
        return sorted(out, key=lambda e: str(e.get("at", "")))

    def metadata(self, version: str) -> dict[str, Any]:
        """The version's metadata.json (what loading it needs: kind, files, bands, drift
        reference); ``show`` adds its events. Raises VersionNotFound."""
        return self._metadata(version)

    def load_files(
        self, version: str, metadata: Mapping[str, Any] | None = None
    ) -> dict[str, bytes]:
        """The version's files (not metadata/events), read side by side, each checked against
        its sha256 (``metadata``: the version's, when the caller has read it already)."""
        meta = self._metadata(version) if metadata is None else metadata
        names = list(meta["files"])
        blobs = self.lake.get_many([f"{PREFIX}/{version}/{name}" for name in names])
        out: dict[str, bytes] = {}
        for name, data in zip(names, blobs, strict=True):
            entry = meta["files"][name]
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise RegistryError(
                    f"model version {version}: {name} does not match its recorded sha256 "
                    "(the artifact was modified after registration)"
                )
            out[name] = data
        return out

    def materialize(
        self, version: str, dest: str | Path, metadata: Mapping[str, Any] | None = None
    ) -> Path:
        """Write the version's files under ``dest`` (created) and return it; CatBoost loads
        models from a path. metadata.json is written alongside for convenience. ``metadata``:
        the version's, when the caller has read it already (one GET less)."""
        root = Path(dest)
        meta = self._metadata(version) if metadata is None else metadata
        for name, data in self.load_files(version, meta).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (root / METADATA_FILE).write_bytes(_dumps(meta))
        return root

    def list(self) -> builtins.list[VersionInfo]:
        """Complete versions, oldest first (ids sort by creation time)."""
        current = self.production()
        out = []
        for name in self.lake.list_dirs(PREFIX):
            if not _VERSION_RE.match(name):
                continue
            try:
                meta = self._metadata(name)
            except VersionNotFound:
                continue  # half-written: invisible until metadata.json exists
            metrics = meta.get("metrics") or {}
            training = meta.get("training_data") or {}
            out.append(
                VersionInfo(
                    version=name,
                    created_at=str(meta.get("created_at", "")),
                    promoted=name == current,
                    gate_passed=bool((meta.get("gate") or {}).get("passed", False)),
                    metrics={
                        k: float(v)
                        for k, v in metrics.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)
                    },
                    kind=str(meta.get("kind") or LEGACY_KIND),
                    asof=training.get("asof"),
                )
            )
        return out

    # -- internals --------------------------------------------------------------------------
    def _metadata(self, version: str) -> dict[str, Any]:
        _check_version_id(version)
        try:
            raw = self.lake.get_bytes(f"{PREFIX}/{version}/{METADATA_FILE}")
        except FileNotFoundError:
            raise VersionNotFound(
                f"no model version {version!r} in {self.lake.uri}/{PREFIX} "
                "(absent, or its registration never completed)"
            ) from None
        return dict(json.loads(raw))

    def _is_complete(self, version: str) -> bool:
        return self.lake.exists(f"{PREFIX}/{version}/{METADATA_FILE}")

    def _objects(self, prefix: str) -> builtins.list[str]:
        """Keys (relative to the lake root) of every object under ``prefix``."""
        base = f"{self.lake.root}/{prefix}"
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        infos = self.lake.fs.get_file_info(selector)
        cut = len(self.lake.root) + 1
        return [i.path[cut:] for i in infos if i.type == pafs.FileType.File]

    def _stamp(self) -> str:
        return _utc_iso(self._clock(), timespec="microseconds")

    def pointer(self) -> dict[str, Any] | None:
        """The full PRODUCTION pointer (version, promoted_at, via, override, reason, previous);
        None before the first promotion. Raises RegistryError on an unreadable pointer."""
        try:
            raw = self.lake.get_bytes(POINTER_KEY)
        except FileNotFoundError:
            return None
        text = raw.decode("utf-8").strip()
        if not text.startswith("{"):
            _check_version_id(text)  # a hand-written pointer: just an id
            return {
                "version": text,
                "promoted_at": None,
                "via": "manual",
                "override": None,
                "reason": "set by hand (a plain-text pointer)",
                "previous": [],
            }
        pointer = json.loads(text)
        if not isinstance(pointer, dict) or not isinstance(pointer.get("version"), str):
            raise RegistryError(f"{POINTER_KEY} is not a valid pointer: {text[:200]!r}")
        pointer.setdefault("previous", [])
        return pointer

    def _switch(
        self,
        entry: dict[str, Any],
        current: dict[str, Any] | None,
        *,
        via: str,
        stack_current: bool = True,
    ) -> None:
        """One PUT of the new pointer, then the audit events on both versions."""
        previous: builtins.list[dict[str, Any]] = []
        if current is not None:
            previous = [*current.get("previous", [])]
            if stack_current:
                head = {k: v for k, v in current.items() if k not in ("previous", "format")}
                previous.insert(0, head)
        pointer = {"format": POINTER_FORMAT, **entry, "previous": previous[:HISTORY_LIMIT]}
        self.lake.put_bytes(POINTER_KEY, _dumps(pointer))
        old = current["version"] if current is not None else None
        log.info("PRODUCTION: %s -> %s (%s)", old, entry["version"], via)
        at = entry["promoted_at"]
        self._append_event(
            entry["version"],
            {
                "event": "promoted",
                "at": at,
                "via": via,
                "previous": old,
                "override": entry.get("override"),
                "reason": entry.get("reason"),
            },
        )
        if old is not None and self._is_complete(old):
            self._append_event(
                old, {"event": "retired", "at": at, "via": via, "replaced_by": entry["version"]}
            )

    def _append_event(self, version: str, event: dict[str, Any]) -> None:
        stamp = re.sub(r"[^0-9TZ]", "", str(event["at"]))
        key = f"{PREFIX}/{version}/{EVENTS_DIR}/{stamp}-{uuid.uuid4().hex[:8]}.json"
        self.lake.put_bytes(key, _dumps({"version": version, **event}))
