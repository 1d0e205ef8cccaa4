"""What a snapshot draws besides its rows: probe arrays and task artifacts from a work directory.

Rows carry scalars only. Plots of distributions (histograms, per-layer curves) need the
arrays probes returned, which the runner keeps in the probe cell's record (``payload.arrays``,
a content hash in the artifact cache), and task artifacts (PNG bytes or arrays) are cache
hashes listed in ``Row.artifacts``. :class:`RunArtifacts` gathers both for one suite's latest
finished run; :meth:`RunArtifacts.empty` stands for "rows only" (e.g. a rebuild from rows).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from bench.errors import CorruptArtifactError, LeaderboardError
from bench.store.cache import ArtifactCache

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Row.artifacts names that are never copied into a snapshot (model weights are not data to show)
SKIPPED_ARTIFACTS = ("checkpoint",)

Arrays = dict[str, "np.ndarray"]


@dataclass
class RunArtifacts:
    """``probe_arrays``: row_id -> probe label -> array name -> array; ``cache``: the artifact cache."""

    probe_arrays: dict[str, dict[str, Arrays]] = field(default_factory=dict)
    cache: Optional[ArtifactCache] = None
    workdir: Optional[Path] = None

    @classmethod
    def empty(cls) -> "RunArtifacts":
        return cls()

    @classmethod
    def from_workdir(cls, workdir: Union[str, Path], suite: str) -> "RunArtifacts":
        """Probe arrays of the latest finished run of ``suite`` in ``workdir`` (the run the rows come from)."""
        from bench.store.results import ResultsStore

        workdir = Path(workdir)
        cache = ArtifactCache(workdir / "cache")
        if not (workdir / "results.sqlite").is_file():
            return cls(cache=cache, workdir=workdir)
        store = ResultsStore(workdir / "results.sqlite")
        try:
            run = store.latest_run(suite)
            out: dict[str, dict[str, Arrays]] = {}
            for key in (run or {}).get("cell_keys", []):
                rec = store.get_cell(key)
                if rec is None or rec["stage"] != "probe" or rec["status"] != "ok":
                    continue
                digest = (rec.get("payload") or {}).get("arrays")
                if not digest:
                    continue
                meta = {**rec["meta"], **(run["labels"].get(key) or {})}  # this run's labels win
                if meta.get("epoch") is not None:  # probes over training: their scalars are the curves
                    continue
                out.setdefault(meta["row_id"], {})[meta["probe"]] = _arrays(cache, digest, f"probe {meta['probe']!r} "
                                                                             f"of row {meta['row_id']!r}", workdir)
        finally:
            store.close()
        return cls(probe_arrays=out, cache=cache, workdir=workdir)

    def blob(self, digest: str, what: str) -> Optional[bytes]:
        """An artifact's bytes, or None without a cache; a clear error if the cache lost it."""
        if self.cache is None:
            return None
        try:
            return self.cache.get_bytes(digest)
        except CorruptArtifactError as exc:
            raise LeaderboardError(
                f"{what} (artifact {digest[:12]}) cannot be read from {self.cache.root}: {exc}; re-run the suite "
                f"in {self.workdir} so the artifact is recomputed, then build again") from None


def _arrays(cache: ArtifactCache, digest: str, what: str, workdir: Path) -> Arrays:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        return dict(load(cache.get_bytes(digest)))
    except (CorruptArtifactError, SafetensorError) as exc:
        raise LeaderboardError(f"the arrays of {what} (artifact {digest[:12]}) cannot be read from {cache.root}: "
                               f"{exc}; re-run the suite in {workdir}, then build again") from None


def task_artifacts(row_artifacts: dict[str, str], source: RunArtifacts, row_id: str
                   ) -> tuple[dict[str, bytes], dict[str, Arrays]]:
    """Split a row's task artifacts into PNG images (``'<task>.<name>'`` -> bytes) and arrays
    (task label -> array name -> array). Needs a cache; without one both are empty."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    images: dict[str, bytes] = {}
    arrays: dict[str, Arrays] = {}
    for name, digest in sorted(row_artifacts.items()):
        if name in SKIPPED_ARTIFACTS:
            continue
        data = source.blob(digest, f"artifact {name!r} of row {row_id!r}")
        if data is None:
            continue
        if data.startswith(PNG_MAGIC):
            images[name] = data
            continue
        try:
            loaded = load(data)
        except SafetensorError:
            continue  # neither PNG nor arrays: nothing we know how to show (listed by `robarena show`)
        for key, value in loaded.items():  # the runner stores artifact '<task>.<key>' as {key: array}
            task = name[:-len(key) - 1] if name.endswith("." + key) else name
            arrays.setdefault(task, {})[key] = value
    return images, arrays
