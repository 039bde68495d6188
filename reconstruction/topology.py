"""The mediapipe face-mesh topology: triangles, boundary loops and named regions.

The mediapipe wheel ships the mesh only as an edge list (`FACEMESH_TESSELATION`).
Its 3-cliques are the triangles, except for two spurious cliques whose three
edges are each shared by three cliques; dropping those leaves a manifold disc
with three holes (the eyes and the inner lips). The triangles are then oriented
consistently by walking across shared edges.

Sides are the subject's: "left" is the subject's left eye, which sits on the
right of the image in a frontal shot (mediapipe's own naming).
"""
from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

NUM_MESH_VERTICES = 468
NUM_LANDMARKS = 478  # 468 mesh vertices + 5 iris points per eye
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first, then the ring
LEFT_IRIS = (473, 474, 475, 476, 477)


def _vertices(edges) -> list[int]:
    return sorted({i for e in edges for i in e})


def _ordered_chain(edges, start: int, end: int) -> list[int]:
    """The path from start to end through an (open or closed) polyline edge set."""
    adj = collections.defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    path, prev = [start], None
    while path[-1] != end or len(path) == 1:
        nxt = [n for n in adj[path[-1]] if n != prev and n not in path[1:]]
        if not nxt:
            break
        prev = path[-1]
        path.append(nxt[0])
        if len(path) > len(adj) + 1:
            raise RuntimeError("polyline does not reach its end point")
    return path


@dataclass(frozen=True)
class Topology:
    """Triangles, edges and named vertex sets of the face mesh."""

    triangles: np.ndarray  # (T, 3) int32, consistently wound (see `facing_camera` for the side)
    edges: np.ndarray  # (E, 2) int32, unique undirected edges (for wireframes)
    regions: dict[str, tuple[int, ...]]

    def region(self, name: str) -> np.ndarray:
        return np.asarray(self.regions[name], dtype=np.int64)


def _manifold_triangles(edges: set[tuple[int, int]]) -> list[tuple[int, int, int]]:
    adj = collections.defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    cliques = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    use = collections.Counter(e for t in cliques for e in itertools.combinations(t, 2))
    # A spurious clique closes a loop of three real triangles: all its edges are over-used.
    return sorted(t for t in cliques if not all(use[e] > 2 for e in itertools.combinations(t, 2)))


def _orient(triangles: list[tuple[int, int, int]]) -> np.ndarray:
    """Give every triangle the winding of its neighbours (breadth-first over shared edges)."""
    by_edge = collections.defaultdict(list)
    for i, t in enumerate(triangles):
        for e in itertools.combinations(t, 2):
            by_edge[e].append(i)
    oriented: dict[int, tuple[int, int, int]] = {}
    for seed in range(len(triangles)):
        if seed in oriented:
            continue
        oriented[seed] = triangles[seed]
        queue = collections.deque([seed])
        while queue:
            t = oriented[queue.popleft()]
            for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])):
                for j in by_edge[tuple(sorted((a, b)))]:
                    if j in oriented:
                        continue
                    c = (set(triangles[j]) - {a, b}).pop()
                    oriented[j] = (b, a, c)  # a shared edge runs the other way in the neighbour
                    queue.append(j)
    return np.array([oriented[i] for i in range(len(triangles))], dtype=np.int32)


@lru_cache(maxsize=1)
def mediapipe_topology() -> Topology:
    """Build the topology from the edge lists bundled in the mediapipe wheel."""
    from mediapipe.python.solutions import face_mesh_connections as fm

    edges = {tuple(sorted(e)) for e in fm.FACEMESH_TESSELATION}
    triangles = _orient(_manifold_triangles(edges))
    regions = {
        "face_oval": tuple(_ordered_chain(fm.FACEMESH_FACE_OVAL, 10, 10)[:-1]),
        # Lip contours from the subject's right corner to the left one.
        "lips_outer_upper": (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291),
        "lips_outer_lower": (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291),
        "lips_inner_upper": (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308),
        "lips_inner_lower": (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308),
        "right_eye": tuple(_vertices(fm.FACEMESH_RIGHT_EYE)),
        "left_eye": tuple(_vertices(fm.FACEMESH_LEFT_EYE)),
        "right_brow": tuple(_vertices(fm.FACEMESH_RIGHT_EYEBROW)),
        "left_brow": tuple(_vertices(fm.FACEMESH_LEFT_EYEBROW)),
        "nose": tuple(_vertices(fm.FACEMESH_NOSE)),
        "right_iris": RIGHT_IRIS,
        "left_iris": LEFT_IRIS,
        # Eyelids from outer to inner corner; corners are (outer, inner).
        "right_upper_lid": (33, 246, 161, 160, 159, 158, 157, 173, 133),
        "right_lower_lid": (33, 7, 163, 144, 145, 153, 154, 155, 133),
        "left_upper_lid": (263, 466, 388, 387, 386, 385, 384, 398, 362),
        "left_lower_lid": (263, 249, 390, 373, 374, 380, 381, 382, 362),
        # Points that hardly move with expression: the pose is anchored on them.
        "rigid": (6, 168, 197, 195, 5, 4, 1, 8, 9, 151, 10, 109, 338, 33, 133, 263, 362,
                  130, 359, 243, 463, 127, 356, 234, 454, 93, 323, 108, 337, 69, 299),
    }
    regions["lips"] = tuple(_vertices(fm.FACEMESH_LIPS))
    regions["lips_inner"] = tuple(sorted(set(regions["lips_inner_upper"] + regions["lips_inner_lower"])))
    regions["mouth_corners"] = (61, 291)  # right, left (outer)
    ring = np.array(sorted({tuple(sorted(e)) for e in edges}), dtype=np.int32)
    return Topology(triangles=triangles, edges=ring, regions=regions)


def facing_camera(topology: Topology, vertices: np.ndarray) -> Topology:
    """The same topology wound so that normals (v1-v0)x(v2-v0) point to -z (out of a frontal face)."""
    tri = topology.triangles
    normals = np.cross(vertices[tri[:, 1]] - vertices[tri[:, 0]], vertices[tri[:, 2]] - vertices[tri[:, 0]])
    if (normals[:, 2] < 0).mean() >= 0.5:
        return topology
    return Topology(triangles=np.ascontiguousarray(tri[:, ::-1]), edges=topology.edges, regions=topology.regions)


def mirror_map(vertices: np.ndarray) -> np.ndarray:
    """Index of each vertex's mirror image across the face's mid-plane (x = 0).

    `vertices` must be a roughly symmetric face centred on x = 0.
    """
    from scipy.optimize import linear_sum_assignment

    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    d = np.linalg.norm(vertices[:, None, :] - mirrored[None, :, :], axis=-1)
    _, match = linear_sum_assignment(d)  # a one-to-one pairing, unlike nearest neighbours
    return match
