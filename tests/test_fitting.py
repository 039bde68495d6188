"""Fitting recovers a known pose, expression and gaze from the model's own projected landmarks."""
import numpy as np
import pytest

from reconstruction.camera import PinholeCamera
from reconstruction.face_model import default_model
from reconstruction.fitting import ActorModel, FrameParams, estimate_identity, fit_frames

NOISE_PX = 0.4  # about mediapipe's frame-to-frame jitter on a 512 px face
NAMED_TOLERANCE = 0.12  # absolute, for coefficients in [0, 1]


def _rotation(yaw, pitch, roll):
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _angle_deg(a, b):
    return np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1)))


@pytest.fixture(scope="module")
def scene():
    """A synthetic actor (not the mean face) in 24 frames with known parameters."""
    rng = np.random.default_rng(7)
    model = default_model()
    identity = model.normalise_identity(model.neutral() * [1.06, 0.97, 1.1] + rng.normal(0, 0.08, (478, 3)))
    camera = PinholeCamera.default_for(512, 512)
    actor = ActorModel.build(model, identity, camera, "mediapipe", 478)
    n, k = 24, actor.num_expressions
    names = model.expression_names
    expr = np.zeros((n, k))
    truth = {"jaw_open": 0.6, "smile_left": 0.5, "blink_right": 0.8, "brow_raise": 0.5, "lip_pucker": 0.4,
             "mouth_right": 0.3}
    for i, (name, value) in enumerate(truth.items()):
        expr[i::3, names.index(name)] = value * rng.uniform(0.7, 1.0, len(expr[i::3]))
    rot = np.stack([_rotation(*rng.uniform([-30, -15, -10], [30, 15, 10])) for _ in range(n)])
    trans = np.c_[rng.uniform(-4, 4, n), rng.uniform(-3, 3, n), rng.uniform(45, 65, n)]
    gaze = np.radians(rng.uniform(-20, 20, (n, 2, 2)))
    gaze[:, 1] = gaze[:, 0]  # both eyes look the same way
    params = FrameParams(rotation=rot, translation=trans, expression=expr, gaze=gaze)
    cam_points = actor.camera_points(params)
    landmarks = np.concatenate([camera.project(cam_points), cam_points[..., 2:3] - cam_points[..., 2:3].mean(1, keepdims=True)], -1)
    landmarks[..., 2] *= camera.focal / trans[:, 2:3]  # relative depth in pixel units, as mediapipe gives
    landmarks[..., :2] += rng.normal(0, NOISE_PX, landmarks[..., :2].shape)
    return model, actor, params, landmarks


def test_recovers_pose_gaze_and_named_controls_with_known_identity(scene):
    model, actor, truth, landmarks = scene
    fitted = fit_frames(actor, landmarks)
    pose_err = [_angle_deg(a, b) for a, b in zip(fitted.rotation, truth.rotation)]
    assert max(pose_err) < 1.0
    gaze_err = np.degrees(np.abs(fitted.gaze - truth.gaze))
    assert gaze_err.max() < 2.0
    n = model.num_named
    assert np.abs(fitted.expression[:, :n] - truth.expression[:, :n]).max() < NAMED_TOLERANCE


def test_identity_estimation_then_fitting_still_recovers_pose_and_gaze(scene):
    model, actor, truth, landmarks = scene
    identity = estimate_identity(model, actor.camera, landmarks, "mediapipe")
    mesh = slice(0, 468)
    assert np.abs(identity[mesh] - actor.identity[mesh]).mean() < np.abs(model.neutral()[mesh] - actor.identity[mesh]).mean()
    estimated = ActorModel.build(model, identity, actor.camera, "mediapipe", 478)
    fitted = fit_frames(estimated, landmarks)
    # Identity and pose share a little ambiguity, so relative poses are what must hold.
    rel_fit = [fitted.rotation[0].T @ r for r in fitted.rotation]
    rel_true = [truth.rotation[0].T @ r for r in truth.rotation]
    assert max(_angle_deg(a, b) for a, b in zip(rel_fit, rel_true)) < 1.0
    assert np.degrees(np.abs(fitted.gaze - truth.gaze)).max() < 3.0
