"""The set's main identity and identity groups (numpy only, on embeddings).

* :func:`identity_order`: ``sort --by identity`` - the faces of the set's main person first, nearest
  to its centre first; then the other people, each gathered (largest group first); like faceswap's
  sort by face. The distance to the main centre is the value sorted on.
* :func:`identity_groups`: ``faceset SIDE group`` - people one after another: the main person of
  what is left, everyone within the threshold of them, again, until every face has a group.
"""

from __future__ import annotations

import numpy as np

from .distance import central, distance

MAX_GROUPS = 50  # past this, the rest is one group


def identity_groups(emb: np.ndarray, threshold: float, metric: str = "euclidean") -> list[list[int]]:
    """Rows of ``emb`` (all finite) grouped by person, largest group first; each group's rows nearest its
    centre first."""
    left = np.arange(len(emb))
    groups: list[list[int]] = []
    while len(left) and len(groups) < MAX_GROUPS - 1:
        c = central(emb[left], metric)
        d = distance(emb[left], c, metric)[:, 0]
        inside = d <= threshold
        if not inside.any():  # the centre of a scattered rest: its nearest face starts a group
            inside = d <= d.min()
        # one refinement: the centre of the members, members again
        c = emb[left[inside]].mean(0)
        d = distance(emb[left], c, metric)[:, 0]
        inside = d <= threshold
        if not inside.any():
            inside = d <= d.min()
        members = left[inside]
        groups.append([int(i) for i in members[np.argsort(d[inside], kind="stable")]])
        left = left[~inside]
    if len(left):
        groups.append([int(i) for i in left])
    groups.sort(key=len, reverse=True)
    return groups


def identity_order(emb: np.ndarray, threshold: float, metric: str = "euclidean") -> tuple[list[int], np.ndarray]:
    """(order, distance of every row to the main identity's centre)."""
    groups = identity_groups(emb, threshold, metric)
    main = emb[groups[0]].mean(0)
    d = distance(emb, main, metric)[:, 0]
    return [i for g in groups for i in g], d
