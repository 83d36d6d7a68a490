"""Reference graphs: creation order and the objects that need a second call."""

from __future__ import annotations

from airflow_assets.restore.graph import creation_order, cyclic_nodes, strongly_connected


def test_referenced_objects_come_first() -> None:
    edges = {"laptop": ["person"], "person": ["office"], "office": ["city"], "city": []}

    assert creation_order(["laptop", "person", "office", "city"], edges) == [
        "city",
        "office",
        "person",
        "laptop",
    ]


def test_only_objects_on_a_cycle_are_cyclic_not_a_whole_self_referencing_type() -> None:
    # People reference their managers (one type referencing itself: no cycle); two servers depend on each
    # other (a cycle); an object referencing itself is a cycle of one.
    edges = {
        "ada": ["grace"],
        "grace": [],
        "alan": ["ada"],
        "srv1": ["srv2"],
        "srv2": ["srv1"],
        "self": ["self"],
    }

    assert cyclic_nodes(edges, edges) == {"srv1", "srv2", "self"}


def test_a_long_chain_does_not_overflow_the_stack() -> None:
    nodes = [str(n) for n in range(50_000)]
    edges = {str(n): [str(n - 1)] for n in range(1, 50_000)}

    order = creation_order(nodes, edges)

    assert order[0] == "0" and order[-1] == "49999"
    assert len(strongly_connected(nodes, edges)) == 50_000


def test_a_component_is_returned_after_the_components_it_references() -> None:
    edges = {"a": ["b"], "b": ["a", "c"], "c": ["d"], "d": ["c"]}

    components = strongly_connected(["a", "b", "c", "d"], edges)

    assert [sorted(c) for c in components] == [["c", "d"], ["a", "b"]]
