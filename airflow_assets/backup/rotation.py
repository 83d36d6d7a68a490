"""The rolling sweep: which objects a run re-reads in full (activity, attributes), in a fixed rotation.

Every object belongs to one of N slices, by a hash of its id (so the slices stay the same size whatever
the ids look like, and an object keeps its slice when others are created or deleted). A rolling run sweeps
the slice after the one the last *complete* snapshot swept: a failed run's slice is swept again by the next
run, so every object is swept at least once every N complete runs. Plain Python, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROLLING = "rolling"
FULL_SWEEPS = "full"
SWEEP_MODES = (ROLLING, FULL_SWEEPS)


def slice_of(object_id: str, count: int) -> int:
    """Return the slice (0 .. count - 1) an object belongs to: a stable hash of its id, modulo ``count``."""
    # blake2b, not hash(): the same in every process and Python version.
    digest = hashlib.blake2b(object_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class SweepSlice:
    """The slice ``index`` of ``count`` that one run sweeps (the manifest's ``sweep_slice``)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"a sweep slice is 0 <= index < count; got {self.index}/{self.count}")

    def covers(self, object_id: str) -> bool:
        """Tell whether the object is in this slice."""
        return self.count == 1 or slice_of(object_id, self.count) == self.index

    def following(self) -> SweepSlice:
        """Return the slice the next run sweeps after this one completed."""
        return SweepSlice((self.index + 1) % self.count, self.count)

    @property
    def label(self) -> str:
        """Return the slice as the manifest and the tools show it: ``<index>/<count>``, index from 0."""
        return f"{self.index}/{self.count}"

    def as_dict(self) -> dict[str, int]:
        """Return the slice as stored in the manifest."""
        return {"index": self.index, "of": self.count}

    @classmethod
    def from_manifest(cls, document: Mapping[str, Any]) -> SweepSlice | None:
        """Return the slice a manifest records (None: the run swept no slice, or the field is unreadable)."""
        stored = document.get("sweep_slice")
        if not isinstance(stored, Mapping):
            return None
        try:
            return cls(int(stored["index"]), int(stored["of"]))
        except (KeyError, TypeError, ValueError):
            return None


def next_slice(previous: SweepSlice | None, count: int) -> SweepSlice:
    """Return the slice to sweep after the last complete snapshot's (None: it swept everything or none).

    A change of N restarts the rotation at slice 0 (the old slices mean nothing under the new N).
    """
    if previous is None or previous.count != count:
        return SweepSlice(0, count)
    return previous.following()
