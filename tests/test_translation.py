"""The translation network: shapes, the training set, training, resume (also after SIGKILL), evaluation."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from base.errors import DvpError
from pipeline.cli import main
from pipeline.demo import astronaut_clip
from pipeline.evaluation import nearest_training_frames
from reconstruction.track import load_track
from translation import model_dir as md
from translation.config import PRESETS, preset
from translation.dataset import load_or_build, time_split
from translation.devices import resolve_device
from translation.inference import Translator
from translation.networks import Generator, discriminator, scale_features
from translation.training import Trainer, TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_and_maps_windows_to_frames(name):
    config = preset(name).check()
    generator, disc = Generator(config), discriminator(config)
    size = config.size
    x = torch.zeros(1, config.in_channels, size, size)
    with torch.no_grad():
        y = generator(x)
        logits = disc(x[:, :config.window_channels], y)
    assert y.shape == (1, 3, size, size) and y.abs().max() <= 1
    assert logits.shape[:2] == (1, 1) and logits.shape[-1] > 1, "one logit per patch"
    assert config.window_channels == 9 * config.window
    assert config.in_channels == config.window_channels + (4 if config.plate else 0)


@pytest.mark.parametrize("name", ["tiny", "cpu"])
def test_resize_and_subpixel_upsampling_paint_no_checkerboard(name):
    # On a flat input every layer's interior is flat: the transposed convolutions' uneven overlap still paints a
    # period-2 pattern there, the resize and 3 x 3 convolution nothing.
    from dataclasses import replace

    from base.metrics import checkerboard_score

    energy = {}
    for kind in ("transposed", "resize", "subpixel"):
        config = replace(preset(name), upsample=kind).check()
        torch.manual_seed(0)
        with torch.no_grad():
            out = (Generator(config).eval()(torch.full((1, config.in_channels, config.size, config.size), 0.3)) + 1)
        s = config.size
        centre = torch.zeros(1, 1, s, s)
        centre[..., s // 4:3 * s // 4, s // 4:3 * s // 4] = 1  # away from the zero padding at the borders
        energy[kind] = checkerboard_score(out * 127.5, torch.zeros_like(out), centre).item()
    assert energy["transposed"] > 50 and energy["resize"] < 0.1 and energy["subpixel"] < 0.1, energy
    assert all(p.upsample == "subpixel" for p in PRESETS.values()), "every preset's generator"
    assert all(p.ema_decay > 0 for name, p in PRESETS.items() if name != "tiny"), "every preset but tiny averages"


def test_a_model_saved_before_resize_upsampling_loads_and_renders_as_before(astro, tmp_path):
    from dataclasses import replace

    video, track = astro
    folder = tmp_path / "old"
    old = replace(preset("tiny"), upsample="transposed")
    train(video, folder, old, track, TrainOptions(steps=20, show_progress=False))
    data = load_or_build(video, load_track(track), track, old.size, folder / "data", show_progress=False)
    windows = data.windows(np.arange(5, 9), old.window)
    before = Translator(folder)(windows)
    manifest = json.loads((folder / md.MANIFEST).read_text())
    del manifest["config"]["upsample"]  # as a model folder written before the field existed
    (folder / md.MANIFEST).write_text(json.dumps(manifest))
    again = Translator(folder)
    assert again.config.upsample == "transposed"
    assert torch.equal(again(windows), before)


def test_the_weight_average_is_kept_resumed_and_used_for_inference(astro, tmp_path):
    video, track = astro
    folder = tmp_path / "ema"
    config = preset("tiny").with_overrides(ema_decay=0.9)
    train(video, folder, config, track, TrainOptions(steps=20, show_progress=False))
    state = md.load_checkpoint(folder)
    average, own = state["generator_average"], state["generator"]
    assert average.keys() == own.keys()
    assert any(not torch.equal(average[k], own[k]) for k in own), "the average trails the weights"
    translator = Translator(folder)
    assert all(torch.equal(v, average[k].to(v.dtype)) for k, v in translator.generator.state_dict().items())
    train(video, folder, None, None, TrainOptions(steps=40, resume=True, show_progress=False))
    again = md.load_checkpoint(folder)
    assert again["step"] == 40 and "generator_average" in again
    plain = tmp_path / "plain"
    train(video, plain, preset("tiny"), track, TrainOptions(steps=20, show_progress=False))
    assert "generator_average" not in md.load_checkpoint(plain), "no average unless asked"
    with pytest.raises(ValueError, match="ema_decay"):
        preset("tiny").with_overrides(ema_decay=1.0)


def test_a_multi_scale_critic_with_feature_matching_trains_and_saves(astro, tmp_path):
    video, track = astro
    config = preset("tiny").with_overrides(disc_scales=2, feature_matching=10.0, gan_loss="hinge")
    disc = discriminator(config)
    x = torch.zeros(2, config.window_channels, config.size, config.size)
    scales = scale_features(disc, x, torch.zeros(2, 3, config.size, config.size))
    assert len(scales) == 2 and scales[1][-1].shape[-1] < scales[0][-1].shape[-1], "the second scale sees half"
    assert len(scales[0]) == config.disc_layers + 2, "every layer's activation, then the logits"
    folder = tmp_path / "m"
    summary = train(video, folder, config, track, TrainOptions(steps=20, show_progress=False))
    assert summary["step"] == 20
    state = md.load_checkpoint(folder)
    assert any(k.startswith("scales.1.") for k in state["discriminator"])
    assert all(np.isfinite(r["fm"]) and r["fm"] > 0 for r in state["history"]["train"]), "the matching loss is in"
    with pytest.raises(ValueError, match="too few pixels"):
        preset("tiny").with_overrides(disc_scales=4)


def test_config_refuses_impossible_settings():
    with pytest.raises(ValueError, match="divisible"):
        preset("cpu").with_overrides(size=100)
    with pytest.raises(ValueError, match="disc_window"):
        preset("cpu").with_overrides(window=1, disc_window=3)
    assert preset("cpu").with_overrides(window=1, disc_window=1).window_channels == 9
    with pytest.raises(ValueError, match="needs the plate"):
        preset("tiny").with_overrides(augment_shift=0.05)


def test_time_split_holds_out_the_end_with_a_gap():
    valid = np.ones(100, bool)
    valid[50] = False
    train, held = time_split(valid, 0.15, 11)
    assert held[0] == 85 and held[-1] == 99 and len(held) == 15
    assert train[-1] == 85 - 11 - 1 and 50 not in train
    with pytest.raises(Exception, match="too few"):
        time_split(np.ones(20, bool), 0.15, 11)


def test_training_set_windows_match_the_renderer(astro, tmp_path):
    video, track_path = astro
    track = load_track(track_path)
    data = load_or_build(video, track, track_path, 64, tmp_path / "data", show_progress=False)
    assert data.conditioning.shape == (len(track), 9, 64, 64) and data.frames.shape == (len(track), 3, 64, 64)
    w = data.windows(np.array([0, 5]), 3)
    assert w.shape == (2, 27, 64, 64) and w.dtype == torch.uint8
    assert torch.equal(w[0, :9], w[0, 18:]), "the shot start is padded with the first frame"
    assert torch.equal(w[1, 18:], torch.from_numpy(np.array(data.conditioning[5])))
    assert torch.equal(w[1, :9], torch.from_numpy(np.array(data.conditioning[3])))
    mtime = (tmp_path / "data" / "conditioning.u8").stat().st_mtime_ns
    load_or_build(video, track, track_path, 64, tmp_path / "data", show_progress=False)
    assert (tmp_path / "data" / "conditioning.u8").stat().st_mtime_ns == mtime, "unchanged inputs reuse the files"
    # The copy a GPU trainer keeps on its device gathers the same batches as the memory map.
    moved = data.to(torch.device("cpu"))
    assert isinstance(moved.conditioning, torch.Tensor) and isinstance(data.conditioning, np.ndarray)
    frames = np.array([0, 5, 9, 9])
    assert torch.equal(moved.windows(frames, 3), data.windows(frames, 3))
    assert torch.equal(moved.current(frames), data.current(frames))
    assert torch.equal(moved.real(frames), data.real(frames))


def test_training_on_tensors_as_a_gpu_does_matches_the_memory_map(astro, tmp_path):
    """The GPU path (the shot held as tensors, batches gathered, augmented and cut out from them) run on the CPU
    takes the very same steps as the memory-mapped path."""
    video, track_path = astro
    config = preset("tiny").with_overrides(plate=True, augment_shift=0.05, augment_scale=0.05, augment_roll=5.0)
    data = load_or_build(video, load_track(track_path), track_path, config.size, tmp_path / "data",
                         show_progress=False)
    frames = np.arange(config.window, len(data))
    losses = []
    for shot in (data, data.to(torch.device("cpu"))):
        trainer = Trainer(config, shot, frames, seed=3)
        losses.append([trainer.train_step() for _ in range(3)])
        assert trainer.generate(frames[:2]).device.type == "cpu"
    assert losses[0] == losses[1]


def test_the_device_is_the_gpu_only_when_there_is_one(astro, tiny_model, tmp_path, capsys):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DvpError, match="not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(DvpError, match="no CUDA GPU"):
            resolve_device("cuda")
        video, track = astro
        assert main(["train", str(video), "--track", str(track), "--preset", "tiny", "-o", str(tmp_path / "m"),
                     "--steps", "1", "--device", "cuda", "-q"]) == 2
        assert "--device cpu" in capsys.readouterr().err
        assert not (tmp_path / "m").exists(), "refused before any work"
        folder, _ = tiny_model
        assert main(["evaluate", str(video), "--model", str(folder), "--device", "cuda", "-q"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
        assert main(["reenact", str(video), "--source", str(video), "--model", str(folder), "-o",
                     str(tmp_path / "out.mp4"), "--device", "cuda", "-q"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err and not (tmp_path / "out.mp4").exists()


def test_training_lowers_the_loss_and_writes_the_model_folder(tiny_model):
    folder, summary = tiny_model
    history = json.loads((folder / "history.json").read_text())
    l1 = [r["l1"] for r in history["train"]]
    assert len(l1) == 6 and l1[-1] < 0.8 * l1[0], f"training L1 should fall: {l1}"
    assert summary["step"] == 60 and summary["held_out_psnr"] > 0
    for name in ("model.json", "checkpoint.pt", "target.track.npz", "loss_curve.png"):
        assert (folder / name).is_file(), name
    assert len(list((folder / "previews").glob("step_*.png"))) == 3  # every 20 steps
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert state["step"] == 60 and set(state) >= {"generator", "discriminator", "opt_g", "opt_d", "sampler"}
    assert not list(folder.glob(".dvp-tmp-*"))


def test_resume_continues_from_the_saved_step(tiny_model, astro, tmp_path):
    folder, _ = tiny_model
    video, _ = astro
    copy = tmp_path / "m"
    shutil.copytree(folder, copy)
    summary = train(video, copy, None, options=TrainOptions(steps=80, resume=True, show_progress=False))
    assert summary["step"] == 80 and summary["steps_this_run"] == 20
    history = json.loads((copy / "history.json").read_text())
    steps = [r["step"] for r in history["train"]]
    assert steps == sorted(steps) and steps[-1] == 80 and steps.count(60) == 1
    with pytest.raises(Exception, match="already holds a model"):
        train(video, copy, preset("tiny"), options=TrainOptions(steps=90, show_progress=False))
    with pytest.raises(Exception, match="was trained with preset"):
        train(video, copy, preset("cpu"), options=TrainOptions(steps=90, resume=True, show_progress=False))
    renamed = tmp_path / "renamed.mp4"
    shutil.copyfile(video, renamed)
    with pytest.raises(Exception, match="resume it with the same target video"):
        train(renamed, copy, None, options=TrainOptions(steps=90, resume=True, show_progress=False))


def test_sigkill_then_resume_continues(astro, tmp_path):
    video, track = astro
    folder = tmp_path / "killed"
    cmd = [sys.executable, "-m", "pipeline.cli", "train", str(video), "--track", str(track), "-o", str(folder),
           "--preset", "tiny", "--steps", "100000", "--checkpoint-every", "5", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if (folder / "checkpoint.pt").is_file():
                time.sleep(1.0)  # let it get a few checkpoints further
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    saved = torch.load(folder / "checkpoint.pt", weights_only=True)["step"]
    assert saved >= 5 and saved % 5 == 0
    assert main(["train", str(video), "-o", str(folder), "--resume", "--steps", str(saved + 5), "-q"]) == 0
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert state["step"] == saved + 5
    assert not list(folder.glob(".dvp-tmp-*"))


def test_model_folder_refusals(tiny_model, astro, tmp_path, capsys):
    folder, _ = tiny_model
    video, _ = astro
    with pytest.raises(md.ModelDirError, match="not a dvp model folder"):
        Translator(tmp_path)
    bad = tmp_path / "old"
    bad.mkdir()
    manifest = json.loads((folder / "model.json").read_text())
    (bad / "model.json").write_text(json.dumps(dict(manifest, version=99)))
    with pytest.raises(md.ModelDirError, match="version 99"):
        Translator(bad)
    (bad / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(md.ModelDirError, match="no checkpoint"):
        Translator(bad)
    (bad / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(md.ModelDirError, match="cannot be read"):
        Translator(bad)
    # another actor: the albedo of someone else
    track = load_track(folder / "target.track.npz")
    track.albedo = np.clip(track.albedo[:, ::-1] * 0.6, 0, 1)
    with pytest.raises(md.ModelDirError, match="another actor"):
        md.check_actor(manifest, track, folder, "the target")
    assert md.check_actor(manifest, load_track(folder / "target.track.npz"), folder, "the target") < 1e-3
    assert main(["evaluate", str(video), "--model", str(tmp_path), "-q"]) == 2
    assert "not a dvp model folder" in capsys.readouterr().err
    other = tmp_path / "other.mp4"
    astronaut_clip(other, frames=12)
    assert main(["evaluate", str(other), "--model", str(folder), "-q"]) == 2
    assert "not the video the model" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "x"), "-q"]) == 2


def test_evaluate_scores_model_and_baselines(tiny_model, astro, tmp_path, capsys):
    folder, _ = tiny_model
    video, _ = astro
    report, preview = tmp_path / "r.json", tmp_path / "e.mp4"
    assert main(["evaluate", str(video), "--model", str(folder), "--report", str(report), "-o", str(preview),
                 "-q"]) == 0
    out, err = capsys.readouterr()
    rep = json.loads(report.read_text())
    assert set(rep["methods"]) == {"model", "nearest_neighbour", "window_1"}
    summary = json.loads(out)  # the one line on stdout: the report's scores
    assert summary["held_out_frames"] == rep["held_out_frames"] and summary["step"] == rep["step"] == 60
    for name, scores in rep["methods"].items():
        assert summary["methods"][name]["psnr_face"] == scores["psnr_face"]
        # Nothing here reproduces the real frames exactly, and each moves differently from them.
        assert 5 < scores["psnr_face"] < 60 and 0 < scores["ssim_face"] < 1 and scores["flicker"] > 0
        assert 5 < scores["psnr_head"] < 60
    nearest = rep["methods"]["nearest_neighbour"]  # real frames: as sharp as the real ones, with no extra pattern
    assert 0.5 < nearest["sharpness"] < 1.5 and abs(nearest["checkerboard"]) < 10
    # The transposed convolutions' generator painted +59 here after 60 steps; the resize generator adds no pattern.
    assert rep["methods"]["model"]["checkerboard"] < 10
    assert "| nearest_neighbour |" in err and "| checkerboard |" in err
    from base.probe import probe

    info = probe(preview)
    assert (info.width, info.height, info.frame_count) == (3 * 256, 256, rep["held_out_frames"][2])


def test_nearest_neighbour_finds_the_frame_with_the_same_parameters(astro):
    _, track_path = astro
    track = load_track(track_path)
    train = np.arange(0, 30)
    held = np.array([31, 35])
    track.rotation[held] = track.rotation[[4, 17]]
    track.translation[held] = track.translation[[4, 17]]
    track.expression[held] = track.expression[[4, 17]]
    track.gaze[held] = track.gaze[[4, 17]]
    assert nearest_training_frames(track, train, held).tolist() == [4, 17]


def test_plate_holes_cover_the_grown_heads_and_augmentation_moves_samples_alike():
    from translation.augment import random_similarity, transform, transform_samples
    from translation.plate import hole, plate

    faces = torch.zeros(2, 1, 64, 64, dtype=torch.bool)
    faces[0, 0, 20:40, 25:35] = True  # a 20-pixel face: grown by 6 pixels
    holes = hole([faces, torch.zeros_like(faces)])
    assert holes[0, 0, 14:46, 19:41].min() == 1 and holes[0, 0, 13, 30] == 0 and holes[0, 0, 30, 18] == 0
    assert holes[1].max() == 0, "no face, no hole"
    crops = torch.full((2, 3, 64, 64), 200, dtype=torch.uint8)
    p = plate(crops, holes)
    assert p.shape == (2, 4, 64, 64) and p.dtype == torch.uint8
    assert p[0, :3, 30, 30].max() == 0 and p[0, 3, 30, 30] == 255 and p[0, 0, 2, 2] == 200 and p[0, 3, 2, 2] == 0
    # the same matrices move the conditioning and the image of a sample together
    g = torch.Generator().manual_seed(1)
    m = random_similarity(8, 0.1, 0.1, 10, g, probability=1.0)
    assert not torch.allclose(m, torch.eye(2, 3).expand(8, 2, 3))
    image = torch.zeros(8, 1, 64, 64)
    image[:, :, 28:36, 28:36] = 255
    a, b = transform(image, m), transform(image.repeat(1, 3, 1, 1), m)
    assert torch.allclose(a.expand_as(b), b)
    assert torch.allclose(transform(image, torch.eye(2, 3).expand(8, 2, 3)), image, atol=1e-3)
    # samples left alone are copied exactly, also when no sample of the batch moves
    still = random_similarity(8, 0.1, 0.1, 10, g, probability=0.0)
    assert torch.equal(transform_samples((image,), still)[0], image)
    half = torch.cat([m[:4], still[4:]])
    moved = transform_samples((image, image.repeat(1, 3, 1, 1)), half)
    assert torch.equal(moved[0][4:], image[4:]) and not torch.equal(moved[0][:4], image[:4])
    assert torch.allclose(moved[0].expand_as(moved[1]), moved[1])


def test_a_model_with_a_plate_and_augmentation_trains_and_reenacts(astro, tmp_path):
    video, track = astro
    config = preset("tiny").with_overrides(plate=True, augment_shift=0.05, augment_scale=0.05, augment_roll=5.0)
    summary = train(video, tmp_path / "m", config, track, TrainOptions(steps=8, show_progress=False))
    assert summary["step"] == 8
    t = Translator(tmp_path / "m")
    assert t.config.plate and t.config.in_channels == 9 * 3 + 4
    windows = torch.zeros(2, t.config.window_channels, 64, 64, dtype=torch.uint8)
    with pytest.raises(ValueError, match="takes a plate"):
        t(windows)
    faces = [torch.zeros(2, 1, 64, 64, dtype=torch.bool)]
    out = t(windows, t.plates(torch.zeros(2, 3, 64, 64, dtype=torch.uint8), faces))
    assert out.shape == (2, 3, 64, 64) and out.dtype == torch.uint8


def test_the_plate_can_come_from_the_other_frame_as_in_synthesis(astro, tmp_path):
    from translation.training import Trainer

    video, track_path = astro
    track = load_track(track_path)
    data = load_or_build(video, track, track_path, 64, tmp_path / "data", show_progress=False)
    config = preset("tiny").with_overrides(plate=True, plate_other_frame=True)
    train_frames = np.arange(20)
    trainer = Trainer(config, data, train_frames, seed=3)
    frames = np.array([2, 5, 9, 30])
    expected = torch.Generator()
    expected.set_state(trainer.sampler.get_state())
    other = train_frames[torch.randint(len(train_frames), (len(frames),), generator=expected).numpy()]
    assert not np.array_equal(other, frames)
    _, inputs, real = trainer.inputs(frames, augment=True)
    plate, holes = inputs[:, -4:-1], inputs[:, -1:] > 0
    assert torch.equal(real, data.real(frames)), "the network is still asked for the frame itself"
    for k in range(len(frames)):
        outside = ~holes[k, 0]
        assert torch.equal(plate[k][:, outside], data.real(other[k:k + 1])[0][:, outside])
    _, own, _ = trainer.inputs(frames)  # validation and evaluation: the frame's own plate
    for k in range(len(frames)):
        outside = ~(own[k, -1] > 0)
        assert torch.equal(own[k, -4:-1][:, outside], data.real(frames[k:k + 1])[0][:, outside])
    with pytest.raises(ValueError, match="needs the plate"):
        preset("tiny").with_overrides(plate_other_frame=True)


def test_pose_balanced_sampling_draws_the_rare_poses_more_often(astro, tmp_path):
    from scipy.spatial.transform import Rotation

    from translation.sampling import balanced_weights
    from translation.training import Trainer

    yaw = np.r_[np.zeros(90), np.full(10, 12.0)]  # a shot that spends 90 % of its frames in one pose
    rotation = Rotation.from_euler("y", yaw[:, None], degrees=True).as_matrix()
    gaze = np.zeros((100, 2, 2))
    assert balanced_weights(rotation, gaze, 0.0) is None, "power 0 is uniform sampling"
    w = balanced_weights(rotation, gaze, 1.0)
    assert w.sum() == pytest.approx(1) and w[90:].sum() == pytest.approx(0.5, abs=0.01), "even over the poses"
    assert 0.1 < balanced_weights(rotation, gaze, 0.5)[90:].sum() < 0.5
    gaze[97:, :, 0] = np.radians(20)  # within the rare pose, a rarer gaze is drawn more still
    w = balanced_weights(rotation, gaze, 1.0)
    assert w[97] == pytest.approx(w[90] * 7 / 3, rel=0.05)
    with pytest.raises(ValueError, match="pose_balance"):
        preset("tiny").with_overrides(pose_balance=1.5)
    # The trainer draws its batches by the weights.
    video, track_path = astro
    track = load_track(track_path)
    data = load_or_build(video, track, track_path, 64, tmp_path / "data", show_progress=False)
    weights = np.zeros(20)
    weights[[3, 17]] = 0.5
    trainer = Trainer(preset("tiny"), data, np.arange(20), seed=0, weights=weights)
    drawn = []
    inputs = trainer.inputs
    trainer.inputs = lambda frames, augment=False: (drawn.extend(frames.tolist()), inputs(frames, augment))[1]
    for _ in range(3):
        trainer.train_step()
    assert len(drawn) == 12 and set(drawn) == {3, 17}, "only the frames with weight are drawn"


def test_dvp_train_keeps_pose_balance_in_the_model(astro, tmp_path):
    video, track = astro
    assert main(["train", str(video), "-o", str(tmp_path / "m"), "--track", str(track), "--preset", "tiny",
                 "--steps", "2", "--pose-balance", "0.5", "-q"]) == 0
    assert md.config_of(md.read_manifest(tmp_path / "m")).pose_balance == 0.5


def test_retrieval_picks_spread_shapes_and_takes_a_weighted_median():
    from translation.mouth_retrieval import farthest_points, weighted_median

    points = np.array([[0.0], [0.1], [0.2], [5.0], [10.0]])
    picked = farthest_points(points, 3)
    assert sorted(picked) == [0, 3, 4], "the shape nearest the mean, then the extremes, not the near-duplicates"
    assert len(farthest_points(points, 10)) == 5
    stack = np.array([10, 20, 200], np.float32).reshape(3, 1, 1, 1)
    assert weighted_median(stack, np.array([1.0, 1.0, 1.0]))[0, 0, 0] == 20
    assert weighted_median(stack, np.array([0.1, 0.1, 5.0]))[0, 0, 0] == 200, "a near neighbour outweighs two far"
