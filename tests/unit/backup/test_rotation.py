"""The rolling sweep's rotation: every object in exactly one slice, slices even, fixed, advancing in turn."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from airflow_assets.backup.rotation import SweepSlice, next_slice, slice_of


def _slices(ids: list[str], count: int) -> Counter[int]:
    return Counter(slice_of(object_id, count) for object_id in ids)


@pytest.mark.parametrize(
    "ids",
    [
        [str(n) for n in range(1, 7001)],  # contiguous, as a fresh schema's
        [str(n * 7) for n in range(1, 7001)],  # every 7th id: id mod 7 would put them all in one slice
        [str(n) for n in random.Random(18).sample(range(10**6, 10**9), 7000)],  # sparse, large
    ],
    ids=["contiguous", "multiples-of-N", "sparse"],
)
def test_slices_are_even_whatever_the_ids_look_like(ids: list[str]) -> None:
    counts = _slices(ids, 7)

    assert sorted(counts) == list(range(7))
    # 1000 expected per slice; a fair hash stays within a few standard deviations (~30).
    assert max(counts.values()) < 1150 and min(counts.values()) > 850


def test_every_object_is_swept_exactly_once_in_n_consecutive_runs() -> None:
    ids = [str(n) for n in range(1, 2001)]
    swept: Counter[str] = Counter()
    current = next_slice(None, 5)
    for _ in range(5):
        swept.update(object_id for object_id in ids if current.covers(object_id))
        current = next_slice(current, 5)

    assert set(swept) == set(ids) and set(swept.values()) == {1}
    assert current == SweepSlice(0, 5)  # the rotation wraps around


def test_an_objects_slice_stays_when_others_are_created_or_deleted() -> None:
    before = {str(n): slice_of(str(n), 9) for n in range(1, 500)}
    # Half deleted, thousands created: the survivors keep their slice.
    after = {
        object_id: slice_of(object_id, 9)
        for object_id in [*list(before)[::2], *map(str, range(10**5, 10**5 + 3000))]
    }

    assert all(after[object_id] == before[object_id] for object_id in list(before)[::2])


def test_the_rotation_restarts_when_n_changes_and_a_lost_slice_is_not_skipped() -> None:
    assert next_slice(SweepSlice(3, 7), 7) == SweepSlice(4, 7)
    assert next_slice(SweepSlice(6, 7), 7) == SweepSlice(0, 7)
    assert next_slice(SweepSlice(3, 7), 96) == SweepSlice(0, 96)
    assert next_slice(None, 7) == SweepSlice(0, 7)  # after a full sweep
    # One slice of one: every object, every run.
    assert all(SweepSlice(0, 1).covers(str(n)) for n in range(100))


def test_a_manifest_field_reads_back_and_a_broken_one_means_no_slice() -> None:
    swept = SweepSlice(2, 7)

    assert SweepSlice.from_manifest({"sweep_slice": swept.as_dict()}) == swept
    assert swept.label == "2/7"
    assert SweepSlice.from_manifest({}) is None
    assert SweepSlice.from_manifest({"sweep_slice": {"index": 9, "of": 7}}) is None
    assert SweepSlice.from_manifest({"sweep_slice": {"index": "x", "of": 7}}) is None
    assert SweepSlice.from_manifest({"sweep_slice": "2/7"}) is None
    with pytest.raises(ValueError, match="0 <= index < count"):
        SweepSlice(0, 0)
