"""The built-in rasteriser against a brute-force per-pixel reference, and its edge rules."""
import numpy as np
import pytest
import torch

from rendering.rasterizer import rasterize, rasterize_packed


def brute_force(pixels, depth, faces, h, w):
    """Nearest triangle and perspective-correct barycentrics per pixel centre, one pixel at a time."""
    face_out = -np.ones((h, w), int)
    bary_out = np.zeros((h, w, 3))
    zbest = np.full((h, w), np.inf)
    tri = pixels[faces]
    tz = depth[faces]
    for y in range(h):
        for x in range(w):
            p = np.array([x + 0.5, y + 0.5])
            a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
            area = (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]) - (c[:, 1] - a[:, 1]) * (b[:, 0] - a[:, 0])
            def e(u, v, p=p):
                return (p[0] - u[:, 0]) * (v[:, 1] - u[:, 1]) - (p[1] - u[:, 1]) * (v[:, 0] - u[:, 0])
            lam = np.stack([e(b, c), e(c, a), e(a, b)], -1) / area[:, None]
            inside = (lam >= 0).all(-1) & (np.abs(area) > 1e-12)
            if not inside.any():
                continue
            inv = lam / tz
            z = 1 / inv.sum(-1)
            z[~inside] = np.inf
            k = int(np.argmin(z))
            face_out[y, x], bary_out[y, x], zbest[y, x] = k, inv[k] * z[k], z[k]
    return face_out, bary_out, zbest


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_meshes(seed):
    rng = np.random.default_rng(seed)
    h, w, nv, nf = 48, 64, 90, 60
    pixels = rng.uniform([-5, -5], [w + 5, h + 5], (nv, 2))
    depth = rng.uniform(2, 10, nv)
    faces = rng.integers(0, nv, (nf, 3))
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    ref_face, ref_bary, ref_z = brute_force(pixels, depth, faces, h, w)
    fr = rasterize(torch.tensor(pixels)[None], torch.tensor(depth)[None], torch.tensor(faces), h, w, with_dists=True)
    got = fr.pix_to_face[0, ..., 0].numpy()
    covered = ref_face >= 0
    assert covered.sum() > 500
    assert (got[covered] == ref_face[covered]).mean() >= 0.999
    assert (got[~covered] == -1).mean() >= 0.999
    same = covered & (got == ref_face)
    assert np.abs(fr.bary_coords[0, ..., 0, :].numpy()[same] - ref_bary[same]).max() < 1e-4
    assert np.abs(fr.zbuf[0, ..., 0].numpy()[same] - ref_z[same]).max() < 1e-5
    d = fr.dists[0, ..., 0].numpy()
    assert (d[covered & same] <= 0).all() and (d[~covered & (got == -1)] == -1).all()


def _grid_mesh(n, cell, origin):
    """A flat grid of (n x n) squares, each split in two, with vertices exactly on pixel centres."""
    ys, xs = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    pixels = np.stack([origin + xs * cell + 0.5, origin + ys * cell + 0.5], -1).reshape(-1, 2).astype(float)
    faces = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = i * (n + 1) + j, i * (n + 1) + j + 1, (i + 1) * (n + 1) + j + 1, (i + 1) * (n + 1) + j
            faces += [(a, b, c), (a, c, d)] if (i + j) % 2 else [(a, b, d), (b, c, d)]
    return pixels, np.array(faces)


def test_shared_edges_have_no_cracks_and_no_double_coverage():
    pixels, faces = _grid_mesh(6, 5, 3)
    depth = torch.full((1, len(pixels)), 4.0, dtype=torch.float64)
    px = torch.tensor(pixels)[None]
    coverage = sum((rasterize(px, depth, torch.tensor(faces[i:i + 1]), 40, 40).pix_to_face[0, ..., 0] >= 0).int()
                   for i in range(len(faces)))
    assert coverage.max() == 1, "no pixel is covered twice"
    assert coverage.sum() == 30 * 30, "the 30 x 30 pixel grid square is covered with no cracks"
    whole = rasterize(px, depth, torch.tensor(faces), 40, 40).pix_to_face[0, ..., 0]
    assert (whole >= 0).sum() == 30 * 30


def test_back_faces_are_culled_on_request_and_batches_are_packed():
    pixels = torch.tensor([[[2.0, 2.0], [12.0, 2.0], [2.0, 12.0]]], dtype=torch.float64)
    depth = torch.full((1, 3), 3.0, dtype=torch.float64)
    # Front faces are wound so (v1 - v0) x (v2 - v0) points at the camera (-z), as the face mesh is.
    front, back = torch.tensor([[0, 2, 1]]), torch.tensor([[0, 1, 2]])
    assert (rasterize(pixels, depth, front, 16, 16, cull_backfaces=True).pix_to_face >= 0).any()
    assert not (rasterize(pixels, depth, back, 16, 16, cull_backfaces=True).pix_to_face >= 0).any()
    assert (rasterize(pixels, depth, back, 16, 16).pix_to_face >= 0).any()
    two = rasterize(pixels.repeat(2, 1, 1), depth.repeat(2, 1), front, 16, 16)
    assert set(two.pix_to_face[1].unique().tolist()) == {-1, 1}, "frame 1's faces are offset by F"
    assert set(two.face_index[1].unique().tolist()) == {-1, 0}


def test_equal_depths_go_to_the_lower_face_index():
    pixels = torch.tensor([[[2.0, 2.0], [12.0, 2.0], [2.0, 12.0], [12.0, 12.0]]], dtype=torch.float32)
    depth = torch.full((1, 4), 3.0)
    # Faces 1 and 2 are the same triangle listed twice: exactly the same depths, so a tie on every pixel.
    faces = torch.tensor([[1, 3, 2], [0, 2, 1], [0, 2, 1]])
    face = rasterize(pixels, depth, faces, 16, 16).pix_to_face[0, ..., 0]
    assert set(face.unique().tolist()) == {-1, 0, 1}


def test_float32_and_float64_find_the_same_faces():
    rng = np.random.default_rng(3)
    pixels = rng.uniform(0, 64, (2, 60, 2))
    depth = rng.uniform(2, 10, (2, 60))
    faces = torch.tensor(rng.integers(0, 60, (40, 3)))
    wide = rasterize(torch.tensor(pixels), torch.tensor(depth), faces, 64, 64, cull_backfaces=True)
    narrow = rasterize(torch.tensor(pixels).float(), torch.tensor(depth).float(), faces, 64, 64, cull_backfaces=True)
    assert narrow.zbuf.dtype == torch.float32 and wide.zbuf.dtype == torch.float64
    assert (narrow.pix_to_face == wide.pix_to_face).float().mean() > 0.999
    same = narrow.pix_to_face >= 0
    assert (narrow.bary_coords.double() - wide.bary_coords)[same].abs().max() < 1e-4


def test_a_huge_triangle_does_not_blow_up_memory():
    pixels = torch.tensor([[[-5000.0, -5000.0], [9000.0, 0.0], [0.0, 9000.0]]], dtype=torch.float64)
    fr = rasterize(pixels, torch.full((1, 3), 2.0, dtype=torch.float64), torch.tensor([[0, 1, 2]]), 256, 256)
    assert (fr.pix_to_face >= 0).all()


def test_packed_fragments_are_the_covered_pixels_of_the_full_ones():
    rng = np.random.default_rng(4)
    pixels, depth = torch.tensor(rng.uniform(0, 32, (3, 30, 2))), torch.tensor(rng.uniform(2, 10, (3, 30)))
    faces = torch.tensor(rng.integers(0, 30, (20, 3)))
    full = rasterize(pixels, depth, faces, 32, 32, with_dists=True)
    packed = rasterize_packed(pixels, depth, faces, 32, 32, with_dists=True)
    covered = (full.pix_to_face.reshape(-1) >= 0).nonzero(as_tuple=True)[0]
    assert torch.equal(packed.pixel, covered)
    assert torch.equal(packed.face, full.face_index.reshape(-1)[covered])
    assert torch.equal(packed.bary_coords, full.bary_coords.reshape(-1, 3)[covered])
    assert torch.equal(packed.zbuf, full.zbuf.reshape(-1)[covered])
    assert torch.equal(packed.dists, full.dists.reshape(-1)[covered])
