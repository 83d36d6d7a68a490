"""Reference graphs: strongly connected components, and an order that creates what is referenced first."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


def strongly_connected(nodes: Iterable[N], edges: Mapping[N, Iterable[N]]) -> list[list[N]]:
    """Return the strongly connected components, each one after every component it has an edge to.

    Tarjan's algorithm, iterative (a chain of 100,000 objects would overflow Python's stack). An edge
    ``a -> b`` means "a references b", so the order returned is a creation order: referenced first.
    Edges to nodes not in ``nodes`` are ignored.
    """
    node_list = list(nodes)
    known = set(node_list)
    index: dict[N, int] = {}
    low: dict[N, int] = {}
    on_stack: set[N] = set()
    stack: list[N] = []
    components: list[list[N]] = []
    counter = 0
    for root in node_list:
        if root in index:
            continue
        work: list[tuple[N, list[N], int]] = [(root, [t for t in edges.get(root, ()) if t in known], 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets, position = work[-1]
            if position < len(targets):
                work[-1] = (node, targets, position + 1)
                target = targets[position]
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, [t for t in edges.get(target, ()) if t in known], 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[N] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def cyclic_nodes(nodes: Iterable[N], edges: Mapping[N, Iterable[N]]) -> set[N]:
    """Return the nodes that lie on a cycle: in a component of two or more, or referencing themselves."""
    cyclic: set[N] = set()
    for component in strongly_connected(nodes, edges):
        if len(component) > 1:
            cyclic.update(component)
        elif component[0] in set(edges.get(component[0], ())):
            cyclic.add(component[0])
    return cyclic


def creation_order(nodes: Iterable[N], edges: Mapping[N, Iterable[N]]) -> list[N]:
    """Return the nodes referenced-first; the members of a cycle side by side, in their given order."""
    node_list = list(nodes)
    position = {node: number for number, node in enumerate(node_list)}
    order: list[N] = []
    for component in strongly_connected(node_list, edges):
        order.extend(sorted(component, key=position.__getitem__))
    return order
