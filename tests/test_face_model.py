"""The built-in face model: a sound mesh, and expression controls that mean the same on any face."""
import collections

import numpy as np
import pytest

from reconstruction.expressions import CORE_CONTROLS
from reconstruction.face_model import default_model
from reconstruction.illumination import vertex_normals
from reconstruction.topology import NUM_MESH_VERTICES

REQUIRED = ("jaw_open", "smile_left", "smile_right", "lip_pucker", "lip_funnel", "mouth_left", "mouth_right",
            "brow_raise", "brow_lower", "blink_left", "blink_right")


@pytest.fixture(scope="module")
def model():
    return default_model()


def test_mesh_is_a_manifold_disc_with_eye_and_mouth_holes(model):
    tri = model.topology.triangles
    assert tri.shape == (852, 3)
    directed = collections.Counter((a, b) for t in tri for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    assert max(directed.values()) == 1, "consistent winding: no directed edge twice"
    undirected = collections.Counter(tuple(sorted(e)) for e in directed)
    boundary = [e for e, n in undirected.items() if n == 1]
    # Boundary loops: face outline (36 edges), two eyes (16 each), inner lips (20).
    adj = collections.defaultdict(set)
    for a, b in boundary:
        adj[a].add(b)
        adj[b].add(a)
    seen, loops = set(), []
    for start in adj:
        if start in seen:
            continue
        stack, loop = [start], set()
        while stack:
            v = stack.pop()
            if v not in loop:
                loop.add(v)
                stack.extend(adj[v] - loop)
        seen |= loop
        loops.append(len(loop))
    assert sorted(loops) == [16, 16, 20, 36]


def test_normals_point_out_of_the_face(model):
    n = vertex_normals(model.neutral()[:NUM_MESH_VERTICES], model.topology.triangles)
    nose_tip = n[1]
    assert nose_tip[2] < -0.8  # the camera looks along +z, so outward is -z
    assert (n[:, 2] < 0).mean() > 0.9


def test_required_named_controls_exist_and_core_set_is_named(model):
    names = model.expression_names
    for name in REQUIRED:
        assert name in names[: model.num_named]
    assert set(CORE_CONTROLS) <= set(names[: model.num_named])


def _another_face(model):
    """A different identity: wider, flatter face with a longer jaw."""
    face = model.neutral() * np.array([1.12, 1.0, 0.85])
    face[:, 1] += np.clip(face[:, 1], 0, None) * 0.15
    return face


@pytest.mark.parametrize("make_face", [lambda m: m.neutral(), _another_face])
def test_blink_closes_the_eye_on_any_face(model, make_face):
    face = make_face(model)
    basis = model.expression_basis(face)
    names = model.expression_names
    for side, up, lo in (("left", 386, 374), ("right", 159, 145)):
        closed = face + basis[names.index(f"blink_{side}")]
        assert np.linalg.norm(closed[up] - closed[lo]) < 0.1 * np.linalg.norm(face[up] - face[lo])
        other = "right" if side == "left" else "left"
        moved = np.abs(basis[names.index(f"blink_{side}")][model.topology.region(f"{other}_eye")]).max()
        assert moved < 1e-3, "a blink leaves the other eye alone"


@pytest.mark.parametrize("make_face", [lambda m: m.neutral(), _another_face])
def test_jaw_open_moves_the_chin_down_more_than_back_and_keeps_the_upper_face(model, make_face):
    face = make_face(model)
    field = model.expression_basis(face)[model.expression_names.index("jaw_open")]
    chin = field[152]
    assert 1.4 < chin[1] < 3.0 and 0 < chin[2] < chin[1]
    assert np.abs(field[[10, 151, 33, 263, 1, 13]]).max() < 0.05  # forehead, eyes, nose, upper lip stay


def test_smiles_and_mouth_shifts_are_mirror_images(model):
    basis = model.expression_basis(model.neutral())
    names = model.expression_names
    left, right = basis[names.index("smile_left")], basis[names.index("smile_right")]
    assert left[291, 1] < -0.5 and left[291, 0] > 0.4 and abs(left[61]).max() < 0.05
    np.testing.assert_allclose(left[291] * [-1, 1, 1], right[61], atol=1e-6)
    assert basis[names.index("mouth_left")][0, 0] > 0.7 > -0.7 > basis[names.index("mouth_right")][0, 0]
