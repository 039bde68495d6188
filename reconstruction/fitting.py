"""Per-frame fitting of pose, expression and gaze to landmarks, and the actor's identity.

Each frame is solved on its own by damped Gauss-Newton on the 2D reprojection
error of every landmark, normalised by the interocular distance so the weights
mean the same at any resolution. Frames are solved in batches (one linear system
per frame, all at once in torch), which is what makes fitting cheap next to
landmark detection. Expression coefficients are kept in their bounds by
projection after each step; a small ridge keeps them at zero unless the
landmarks ask otherwise (named controls are penalised less than detail fields).

The identity (neutral shape) is estimated first from a sample of frames by
alternating: fit the frames with the current identity, lift the landmarks to 3D
at the fitted depth (using the detector's relative depth where it has one),
remove pose and expression, and take the per-vertex median.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reconstruction.camera import PinholeCamera
from reconstruction.canonical import similarity_transform
from reconstruction.face_model import Eyes, FaceModel, gaze_rotation
from reconstruction.topology import NUM_MESH_VERTICES

# Ridge weights (per unit coefficient, against squared NME-scaled residuals): the core
# controls are cheapest, so an antagonist pair (blink / eye_wide) is not co-activated.
CORE_RIDGE = 2e-4
EXTRA_RIDGE = 2e-3
DETAIL_RIDGE = 3e-3
DAMPING = 1e-3
MAX_GAZE_RAD = np.deg2rad(55.0)
EXPRESSION_BOUNDS = {"named": (0.0, 1.5), "detail": (-3.0, 3.0)}
CONTOUR_WEIGHT = 0.5
REST_PERCENTILE = 5.0  # the face outline is the least reliable part of any detector


@dataclass
class FrameParams:
    """Per-frame parameters of a batch of frames (numpy, float64)."""

    rotation: np.ndarray  # (B, 3, 3) head -> camera
    translation: np.ndarray  # (B, 3) centimetres
    expression: np.ndarray  # (B, K)
    gaze: np.ndarray  # (B, 2, 2) per eye (right, left): yaw, pitch in radians

    def __len__(self) -> int:
        return len(self.translation)


@dataclass
class ActorModel:
    """Everything about one actor that stays fixed while frames are fitted."""

    model: FaceModel
    identity: np.ndarray  # (V, 3)
    basis: np.ndarray  # (K, V, 3)
    eyes: Eyes
    camera: PinholeCamera
    landmark_vertices: np.ndarray  # (L,) vertex of each landmark
    weights: np.ndarray  # (L,)
    interocular: tuple[int, int]  # landmark indices of the outer eye corners

    @classmethod
    def build(cls, model: FaceModel, identity: np.ndarray, camera: PinholeCamera,
              backend: str, num_points: int) -> "ActorModel":
        verts = model.landmark_vertices(backend, num_points)
        weights = np.ones(len(verts))
        oval = set(model.topology.regions["face_oval"])
        weights[[i for i, v in enumerate(verts) if v in oval]] = CONTOUR_WEIGHT
        corners = (int(np.flatnonzero(verts == 33)[0]), int(np.flatnonzero(verts == 263)[0]))
        return cls(model=model, identity=identity, basis=model.expression_basis(identity),
                   eyes=model.eyes(identity), camera=camera, landmark_vertices=verts,
                   weights=weights, interocular=corners)

    @property
    def num_expressions(self) -> int:
        return len(self.basis)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        k, n = self.num_expressions, self.model.num_named
        lo = np.full(k, EXPRESSION_BOUNDS["detail"][0])
        hi = np.full(k, EXPRESSION_BOUNDS["detail"][1])
        lo[:n], hi[:n] = EXPRESSION_BOUNDS["named"]
        return lo, hi

    def ridge(self) -> np.ndarray:
        r = np.full(self.num_expressions, DETAIL_RIDGE)
        r[: self.model.num_named] = EXTRA_RIDGE
        r[list(self.model.core_controls)] = CORE_RIDGE
        return r

    def iris_points(self, gaze: np.ndarray) -> np.ndarray:
        """Iris points (B, 2, 5, 3) in the head frame: they ride on the eyeballs, turned by the gaze."""
        rot = gaze_rotation(gaze[..., 0], gaze[..., 1])  # (B, 2, 3, 3)
        return self.eyes.centres[None, :, None] + np.einsum("beij,epj->bepi", rot, self.eyes.iris_offsets)

    def head_points(self, expression: np.ndarray, gaze: np.ndarray) -> np.ndarray:
        """All model vertices (B, V, 3) in the head frame for given expressions and gazes."""
        k, v = self.basis.shape[:2]
        pts = self.identity[None] + (expression @ self.basis.reshape(k, -1)).reshape(-1, v, 3)
        iris = self.iris_points(gaze)
        for eye in range(2):
            pts[:, self.eyes.iris_indices[eye]] = iris[:, eye]
        return pts

    def camera_points(self, params: FrameParams) -> np.ndarray:
        head = self.head_points(params.expression, params.gaze)
        return np.einsum("bij,bvj->bvi", params.rotation, head) + params.translation[:, None]

    def project_landmarks(self, params: FrameParams) -> np.ndarray:
        """Model landmarks in pixels (B, L, 2)."""
        return self.camera.project(self.camera_points(params)[:, self.landmark_vertices])


def so3_exp(w: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (B, 3, 3) from axis-angle vectors (B, 3) (Rodrigues)."""
    theta = w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    k = w / theta
    kx = torch.zeros(w.shape[:-1] + (3, 3), dtype=w.dtype)
    kx[..., 0, 1], kx[..., 0, 2], kx[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
    kx = kx - kx.transpose(-1, -2)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return torch.eye(3, dtype=w.dtype) + s * kx + (1 - c) * kx @ kx


def _skew(a: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(a.shape + (3,), dtype=a.dtype)
    out[..., 0, 1], out[..., 0, 2], out[..., 1, 2] = -a[..., 2], a[..., 1], -a[..., 0]
    return out - out.transpose(-1, -2)


def interocular_px(points: np.ndarray, corners: tuple[int, int]) -> np.ndarray:
    return np.linalg.norm(points[..., corners[0], :2] - points[..., corners[1], :2], axis=-1)


def initial_params(actor: ActorModel, observed: np.ndarray) -> FrameParams:
    """Pose from a similarity fit of the detector's 3D points (or 2D plus mean depth) to the identity."""
    b = len(observed)
    verts = actor.landmark_vertices
    mesh = verts < NUM_MESH_VERTICES
    ref = actor.identity[verts[mesh]]
    rot = np.empty((b, 3, 3))
    trans = np.empty((b, 3))
    cam = actor.camera
    for i, obs in enumerate(observed):
        pts = obs[mesh].astype(np.float64)
        if pts.shape[1] < 3 or np.isnan(pts[:, 2]).any():
            pts = np.c_[pts[:, :2], np.zeros(len(pts))]  # 2D only: a frontal guess
        scale, r, t = similarity_transform(ref, pts)
        depth = cam.focal / scale
        centre = t  # the head-frame origin lands here (pixels, with relative depth)
        rot[i] = r
        trans[i] = [(centre[0] - cam.cx) * depth / cam.focal, (centre[1] - cam.cy) * depth / cam.focal, depth]
    return FrameParams(rotation=rot, translation=trans,
                       expression=np.zeros((b, actor.num_expressions)), gaze=np.zeros((b, 2, 2)))


def fit_frames(actor: ActorModel, observed: np.ndarray, init: FrameParams | None = None,
               iterations: int = 4) -> FrameParams:
    """Fit pose, expression and gaze to landmarks (B, L, >=2) in pixels. Frames are independent."""
    params = init if init is not None else initial_params(actor, observed)
    f = actor.camera.focal
    b, k = len(observed), actor.num_expressions
    verts = actor.landmark_vertices
    num = len(verts)
    scale = 1.0 / interocular_px(observed, actor.interocular)
    sqrt_w = torch.as_tensor(np.sqrt(actor.weights)[None, :, None] * scale[:, None, None])  # (B, L, 1)
    obs = torch.as_tensor(observed[..., :2], dtype=torch.float64)
    basis_t = torch.as_tensor(actor.basis[:, verts].transpose(1, 2, 0), dtype=torch.float32)  # (L, 3, K)
    ridge = torch.as_tensor(actor.ridge(), dtype=torch.float32)
    lo, hi = (torch.as_tensor(x, dtype=torch.float64) for x in actor.bounds())
    centre = torch.tensor([actor.camera.cx, actor.camera.cy], dtype=torch.float64)
    rot = torch.as_tensor(params.rotation, dtype=torch.float64)
    trans = torch.as_tensor(params.translation, dtype=torch.float64)
    expr = params.expression.astype(np.float64).copy()
    gaze = params.gaze.astype(np.float64).copy()
    iris_rows = [np.flatnonzero(np.isin(verts, actor.eyes.iris_indices[e])) for e in range(2)]
    iris_pos = [np.searchsorted(actor.eyes.iris_indices[e], verts[iris_rows[e]]) for e in range(2)]
    n_par = 6 + k + 4
    jac = torch.zeros(b, num, 2, n_par, dtype=torch.float32)
    eps = 1e-4
    for _ in range(iterations):
        head = torch.as_tensor(actor.head_points(expr, gaze)[:, verts])
        a = torch.einsum("bij,blj->bli", rot, head)
        x = a + trans[:, None]
        z = x[..., 2]
        r = (f * x[..., :2] / z[..., None] + centre - obs) * sqrt_w  # (B, L, 2)
        jp = torch.zeros(b, num, 2, 3, dtype=torch.float64)
        jp[..., 0, 0] = jp[..., 1, 1] = f / z
        jp[..., 0, 2] = -f * x[..., 0] / z ** 2
        jp[..., 1, 2] = -f * x[..., 1] / z ** 2
        jp *= sqrt_w[..., None]
        jac[..., 0:3] = (-jp @ _skew(a)).float()
        jac[..., 3:6] = jp.float()
        jr = (jp @ rot[:, None]).float()  # d pixels / d head point, (B, L, 2, 3)
        jac[..., 6:6 + k] = torch.bmm(jr.permute(1, 0, 2, 3).reshape(num, b * 2, 3), basis_t
                                      ).reshape(num, b, 2, k).permute(1, 0, 2, 3)
        iris_now = actor.iris_points(gaze)
        for eye in range(2):
            rows = iris_rows[eye]
            for p in range(2):
                moved = gaze.copy()
                moved[:, eye, p] += eps
                d_head = (actor.iris_points(moved)[:, eye] - iris_now[:, eye])[:, iris_pos[eye]] / eps
                jac[:, rows, :, 6 + k + 2 * eye + p] = torch.einsum(
                    "blij,blj->bli", jr[:, rows], torch.as_tensor(d_head, dtype=torch.float32))
        j2 = jac.reshape(b, 2 * num, n_par)
        h = j2.transpose(1, 2) @ j2
        g = (j2.transpose(1, 2) @ r.reshape(b, -1, 1).float())[..., 0]
        h[:, 6:6 + k, 6:6 + k] += torch.diag(ridge)
        g[:, 6:6 + k] += ridge * torch.as_tensor(expr, dtype=torch.float32)
        h += DAMPING * torch.diag_embed(torch.diagonal(h, dim1=1, dim2=2) + 1e-9)
        step = -torch.linalg.solve(h.double(), g.double()[..., None])[..., 0]
        rot = so3_exp(step[:, :3]) @ rot
        trans = trans + step[:, 3:6]
        expr = torch.clamp(torch.as_tensor(expr) + step[:, 6:6 + k], lo, hi).numpy()
        gaze = np.clip(gaze + step[:, 6 + k:].numpy().reshape(b, 2, 2), -MAX_GAZE_RAD, MAX_GAZE_RAD)
    return FrameParams(rotation=rot.numpy(), translation=trans.numpy(), expression=expr, gaze=gaze)


def estimate_identity(model: FaceModel, camera: PinholeCamera, landmarks: np.ndarray,
                      backend: str, rounds: int = 2) -> np.ndarray:
    """The actor's neutral shape from a sample of frames' landmarks (N, L, 3)."""
    identity = model.neutral()
    num_points = landmarks.shape[1]
    for _ in range(rounds):
        actor = ActorModel.build(model, identity, camera, backend, num_points)
        params = fit_frames(actor, landmarks)
        verts = actor.landmark_vertices
        cam_pts = actor.camera_points(params)[:, verts]
        depth = cam_pts[..., 2]
        rel = landmarks[..., 2] if landmarks.shape[-1] > 2 else None
        if rel is not None and not np.isnan(rel).any():
            mean_depth = depth.mean(axis=1, keepdims=True)
            depth = mean_depth + (rel - rel.mean(axis=1, keepdims=True)) * mean_depth / camera.focal
        lifted = np.stack([(landmarks[..., 0] - camera.cx) * depth / camera.focal,
                           (landmarks[..., 1] - camera.cy) * depth / camera.focal, depth], axis=-1)
        head = np.einsum("bji,blj->bli", params.rotation, lifted - params.translation[:, None])
        # Keep in the identity whatever each control never lets go of: coefficient 0
        # becomes the actor's most relaxed state of that control in the shot.
        rest = np.percentile(params.expression, REST_PERCENTILE, axis=0)
        moving = params.expression - rest
        expr_free = head - np.einsum("bk,klc->blc", moving, actor.basis[:, verts])
        updated = identity.copy()
        updated[verts] = np.median(expr_free, axis=0)
        identity = model.normalise_identity(updated)
    return identity


def actor_from_track(track, model: FaceModel | None = None) -> ActorModel:
    """The fitted actor of a Track, refusing a track made with another face model."""
    from base.errors import TrackFormatError
    from reconstruction.face_model import default_model

    model = model or default_model()
    info = track.header["model"]
    if (info["name"], info["version"]) != (model.name, model.version):
        raise TrackFormatError(
            f"the track was fitted with face model {info['name']} v{info['version']}, but this dvp uses "
            f"{model.name} v{model.version}; re-run `dvp track` on the video")
    camera = PinholeCamera(**track.header["camera"])
    detector = track.header["detector"]
    return ActorModel.build(model, track.identity.astype(np.float64), camera, detector["backend"],
                            detector["num_points"])


def track_params(track, frames: np.ndarray) -> FrameParams:
    """The fitted parameters of some frames of a Track, as float64."""
    return FrameParams(rotation=track.rotation[frames].astype(np.float64),
                       translation=track.translation[frames].astype(np.float64),
                       expression=track.expression[frames].astype(np.float64),
                       gaze=track.gaze[frames].astype(np.float64))
