"""Training the rendering-to-video network on one target actor (`dvp train`).

Conditional GAN training as in Deep Video Portraits: each step the
discriminator learns to tell real (conditioning, frame) pairs from generated
ones, then the generator learns to fool it while staying close to the real
frame in L1 (weight 100). Training runs for a number of steps or minutes (both
count the whole life of the model, across resumed runs), checkpoints atomically
every `checkpoint_every` steps, and at every checkpoint scores a fixed set of
held-out frames, draws the loss curves and writes a validation preview. A run
that is killed, even with SIGKILL, continues from its last checkpoint with
`resume=True`: weights, optimiser moments, the step, the elapsed time, the
random state of batch sampling and the history all come back.
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from base.atomic import replacing, write_json
from base.errors import BackendUnavailableError, DvpError
from base.metrics import psnr
from reconstruction.track import load_track
from rendering.spacetime import CONDITIONING_CHANNELS
from translation import model_dir as md
from translation.augment import random_similarity, transform_samples
from translation.config import TranslationConfig
from translation.dataset import ShotData, load_or_build, time_split
from translation.devices import resolve_device
from translation.networks import Generator, discriminator, scale_features
from translation.plate import hole, plate, rendered_face
from translation.previews import write_loss_curve, write_preview
from translation.sampling import balanced_weights

log = logging.getLogger("dvp.train")
LOG_EVERY = 10  # steps between entries of the training-loss history
GPU_DATA_SHARE = 0.4  # the share of a GPU's free memory the training set may take there
PREVIEW_ROWS = 4


@dataclass
class TrainOptions:
    steps: int | None = None  # stop at this many steps in all
    minutes: float | None = None  # or after this much training time in all (default 30 when neither is given)
    resume: bool = False
    rasterizer: str = "auto"
    tensorboard: bool = False
    seed: int = 0
    show_progress: bool = True
    device: str = "auto"  # "cpu", "cuda" (or "cuda:N"), or "auto": the GPU when torch sees one


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """0..255 values (uint8 or float) to a new float tensor in [-1, 1], channels-last."""
    return images.to(torch.float32, copy=True).div_(127.5).sub_(1).contiguous(memory_format=torch.channels_last)


def loss_weights(conditioning: torch.Tensor, config: TranslationConfig) -> torch.Tensor | None:
    """Per-pixel L1 weights (B, 1, S, S) from the newest frame's uint8 conditioning (B, 9, S, S), or None.

    1 everywhere, plus `face_weight` where the face is rendered and `eye_weight`
    over the eye openings grown by about 3 % of the crop (lids, lashes and glasses
    rims around the iris).
    """
    if not (config.face_weight or config.eye_weight):
        return None
    face = rendered_face(conditioning)
    eye = CONDITIONING_CHANNELS.index("eye_region")
    eyes = (conditioning[:, eye:eye + 1] > 0).float()
    grow = max(1, round(0.03 * config.size))
    eyes = nn.functional.max_pool2d(eyes, 2 * grow + 1, stride=1, padding=grow)
    return 1 + config.face_weight * face.float() + config.eye_weight * eyes


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats to uint8."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)


class Trainer:
    """The networks, optimisers and sampling state of one training run."""

    def __init__(self, config: TranslationConfig, data: ShotData, train_frames: np.ndarray, seed: int,
                 weights: np.ndarray | None = None, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.data = data
        # On a GPU the whole shot moves there when it fits (hundreds of MB at 256x256), and batches are gathered,
        # augmented and cut out on it; a shot too long for that stays memory-mapped, and each batch is copied over.
        if self.device.type == "cuda":
            free = torch.cuda.mem_get_info(self.device)[0]
            if data.nbytes <= GPU_DATA_SHARE * free:
                self.data = data.to(self.device)
            else:
                log.info("the training set (%.1f GB) stays in host memory: more than %d %% of the GPU's free %.1f GB",
                         data.nbytes / 1e9, 100 * GPU_DATA_SHARE, free / 1e9)
        self.config, self.train_frames = config, train_frames
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        torch.manual_seed(seed)
        self.generator = Generator(config).to(self.device, memory_format=torch.channels_last)
        self.average = copy.deepcopy(self.generator).requires_grad_(False) if config.ema_decay else None
        self.discriminator = discriminator(config).to(self.device, memory_format=torch.channels_last)
        betas = (config.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), config.learning_rate, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), config.learning_rate, betas=betas)
        self.sampler = torch.Generator().manual_seed(seed)
        self.bce = nn.BCEWithLogitsLoss()
        self.step = 0
        self.elapsed = 0.0
        self.history: dict = {"train": [], "validation": []}

    def state(self) -> dict:
        state = {"step": self.step, "elapsed_s": self.elapsed, "generator": self.generator.state_dict(),
                 "discriminator": self.discriminator.state_dict(), "opt_g": self.opt_g.state_dict(),
                 "opt_d": self.opt_d.state_dict(), "sampler": self.sampler.get_state(), "history": self.history}
        if self.average is not None:
            state["generator_average"] = self.average.state_dict()
        return state

    def load(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        if self.average is not None:
            self.average.load_state_dict(state.get("generator_average", state["generator"]))
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sampler.set_state(state["sampler"])
        self.step, self.elapsed, self.history = int(state["step"]), float(state["elapsed_s"]), state["history"]

    def on_device(self, batch: torch.Tensor) -> torch.Tensor:
        """A gathered batch on the training device (itself when it is there already)."""
        return batch.to(self.device, non_blocking=True)

    def inputs(self, frames: np.ndarray, augment: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Space-time windows (B, 9 * N_w, S, S), generator inputs (with the plate, if any) and real crops.

        All three as 0..255 values (uint8, or float32 when augmented), before `to_unit`.
        """
        window = self.on_device(self.data.windows(frames, self.config.window))
        real = self.on_device(self.data.real(frames))
        if not self.config.plate:
            return window, window, real
        other = self.train_frames[torch.randint(len(self.train_frames), (len(frames),),
                                                generator=self.sampler).numpy()] if augment else frames
        faces = self.on_device(self.data.current(other))
        source = self.on_device(self.data.real(other)) if augment and self.config.plate_other_frame else real
        if augment and self.config.augments:
            matrices = random_similarity(len(frames), self.config.augment_shift, self.config.augment_scale,
                                         self.config.augment_roll, self.sampler).to(self.device)
            extra = (source,) if self.config.plate_other_frame else ()
            moved = transform_samples((window, real, faces, *extra), matrices)
            window, real, faces = moved[:3]
            source = moved[3] if extra else real
        current = window[:, -len(CONDITIONING_CHANNELS):]
        holes = hole([rendered_face(current), rendered_face(faces)])
        return window, torch.cat([window, plate(source, holes).to(window.dtype)], dim=1), real

    def loss_weights(self, window: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor | None:
        """Per-pixel L1 weights of a batch (see `loss_weights`)."""
        return loss_weights(window[:, -len(CONDITIONING_CHANNELS):], self.config)

    def train_step(self) -> dict:
        if self.weights is None:
            pick = torch.randint(len(self.train_frames), (self.config.batch_size,), generator=self.sampler).numpy()
        else:
            pick = torch.multinomial(self.weights, self.config.batch_size, replacement=True,
                                     generator=self.sampler).numpy()
        frames = np.sort(self.train_frames[pick])
        window, inputs, real = self.inputs(frames, augment=True)
        weights = self.loss_weights(window, inputs)
        x, cond, real = to_unit(inputs), to_unit(window), to_unit(real)
        self.generator.train()
        fake = self.generator(x)
        # Discriminator (every scale): real pairs towards 1, generated pairs towards 0.
        real_features = scale_features(self.discriminator, cond, real)
        fake_features = scale_features(self.discriminator, cond, fake.detach())
        loss_d = sum(self.critic_loss(r[-1], f[-1]) for r, f in zip(real_features, fake_features))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # Generator: fool the discriminator, look like the real frame to it inside, stay close to the real frame.
        fake_features = scale_features(self.discriminator, cond, fake)
        loss_adv = sum(self.fooling_loss(f[-1]) for f in fake_features)
        error = (fake - real).abs()
        loss_l1 = error.mean()
        weighted = loss_l1 if weights is None else (error * weights).sum() / (weights.sum() * error.shape[1])
        loss_g = self.config.adversarial_weight * loss_adv + self.config.l1_weight * weighted
        loss_fm = torch.zeros(())
        if self.config.feature_matching:
            pairs = [(f, r.detach()) for fs, rs in zip(fake_features, real_features) for f, r in zip(fs[:-1], rs[:-1])]
            loss_fm = sum((f - r).abs().mean() for f, r in pairs) / len(pairs)
            loss_g = loss_g + self.config.feature_matching * loss_fm
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.average is not None:
            self._update_average()
        self.step += 1
        losses = {"l1": loss_l1.item(), "g_adv": loss_adv.item(), "d": loss_d.item()}
        if self.config.feature_matching:
            losses["fm"] = loss_fm.item()
        return losses

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss on one scale's logits for real and generated pairs."""
        if self.config.gan_loss == "hinge":
            return torch.relu(1 - real).mean() + torch.relu(1 + fake).mean()
        return 0.5 * (self.bce(real, torch.ones_like(real)) + self.bce(fake, torch.zeros_like(fake)))

    def fooling_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """The generator's adversarial loss on one scale's logits for its frames."""
        if self.config.gan_loss == "hinge":
            return -fake.mean()
        return self.bce(fake, torch.ones_like(fake))

    @torch.no_grad()
    def _update_average(self) -> None:
        """The average's weights moved towards the generator's, by a decay that warms up over the first steps."""
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        torch._foreach_lerp_(list(self.average.parameters()), list(self.generator.parameters()), 1 - decay)

    @property
    def inference_generator(self) -> Generator:
        """The weights inference uses: the average's when there is one."""
        return self.average if self.average is not None else self.generator

    @torch.inference_mode()
    def generate(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 outputs (N, 3, S, S) for some frames, in batches, on the CPU."""
        generator = self.inference_generator.eval()
        size = self.config.batch_size
        return torch.cat([to_uint8(generator(to_unit(self.inputs(frames[i:i + size])[1]))).cpu()
                          for i in range(0, len(frames), size)])

    def validate(self, frames: np.ndarray) -> tuple[dict, torch.Tensor]:
        output = self.generate(frames)
        real = self.data.real(frames).cpu()
        l1 = float((output.float() - real.float()).abs().mean() / 127.5)
        return {"step": self.step, "l1": l1, "psnr": float(psnr(output, real).mean())}, output


def _tensorboard_writer():
    """TensorBoard's SummaryWriter class, or a clear error before any work is done."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise BackendUnavailableError("--tensorboard needs the tensorboard package: pip install -e \".[tensorboard]\"") \
            from None
    return SummaryWriter


def check_request(video: Path, opts: TrainOptions, default_minutes: float) -> tuple[type | None, int | None,
                                                                                  float | None]:
    """Refuse a missing video, a bad budget or a missing TensorBoard before any work; returns the TensorBoard writer
    class (or None), the step limit and the time budget in seconds (`default_minutes` when neither is given)."""
    if not video.exists():
        raise DvpError(f"target video {video} does not exist")
    if opts.steps is not None and opts.steps < 1:
        raise DvpError("--steps must be at least 1")
    if opts.minutes is not None and opts.minutes <= 0:
        raise DvpError("--minutes must be more than 0")
    writer_class = _tensorboard_writer() if opts.tensorboard else None
    budget_s = opts.minutes * 60 if opts.minutes is not None else (None if opts.steps else default_minutes * 60.0)
    return writer_class, opts.steps, budget_s


def _prepare(video: Path, track_path: Path | None, folder: Path, config: TranslationConfig | None,
             resume: bool) -> tuple[TranslationConfig, dict | None]:
    """Check the folder against the request; returns the config to train and the existing manifest, if any."""
    existing = (folder / md.MANIFEST).is_file()
    if existing and not resume:
        raise DvpError(f"{folder} already holds a model; pass --resume to continue training it, or choose "
                       "another output folder")
    if not existing:
        if config is None:
            raise DvpError("choose a preset (--preset) for a new model")
        if track_path is None:
            raise DvpError("a new model needs the target's track (--track, or let `dvp train` track the video)")
        return config.check(), None
    manifest = md.read_manifest(folder)
    stored = md.config_of(manifest)
    if config is not None and config != stored:
        raise DvpError(f"{folder} was trained with preset {stored.name!r} ({stored.to_dict()}); resume it without "
                       "--preset and overrides, or train a new model in another folder")
    if video.name != manifest["target"]["video"]:
        raise DvpError(f"{folder} was trained on {manifest['target']['video']}, not {video.name}; resume it with "
                       "the same target video")
    return stored, manifest


def train(video: str | os.PathLike, model_folder: str | os.PathLike, config: TranslationConfig | None,
          track_path: str | os.PathLike | None = None, options: TrainOptions | None = None) -> dict:
    """Train (or continue training) a model of the actor in `video`; returns a summary."""
    opts = options or TrainOptions()
    video, folder = Path(video), Path(model_folder)
    writer_class, max_steps, budget_s = check_request(video, opts, default_minutes=30)
    device = resolve_device(opts.device)
    config, manifest = _prepare(video, Path(track_path) if track_path else None, folder, config, opts.resume)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".dvp-tmp-*"):  # left by a run killed while writing
        stale.unlink()
    if manifest is None and Path(track_path).resolve() != (folder / md.TRACK).resolve():
        with replacing(folder / md.TRACK) as tmp:
            shutil.copyfile(track_path, tmp)
    track = load_track(folder / md.TRACK)
    data = load_or_build(video, track, folder / md.TRACK, config.size, folder / "data", opts.rasterizer,
                         opts.show_progress)
    train_frames, held = time_split(data.valid, config.holdout_fraction, config.window)
    if manifest is None:
        split = {"train": [int(train_frames[0]), int(train_frames[-1]), len(train_frames)],
                 "held_out": [int(held[0]), int(held[-1]), len(held)], "gap": config.window}
        md.write_manifest(folder, config, video, track, data.crop.to_dict(), split)
    weights = balanced_weights(track.rotation[train_frames], track.gaze[train_frames], config.pose_balance)
    trainer = Trainer(config, data, train_frames, opts.seed, weights, device)
    title = f"{video.name}, preset {config.name}, {config.size}x{config.size}, window {config.window}"
    last_scores, run = run_training(trainer, folder, held, opts, title, writer_class, max_steps, budget_s)
    return {"model": str(folder), "preset": config.name, "size": config.size, "window": config.window,
            "device": str(device), "step": trainer.step, "trained_minutes": round(trainer.elapsed / 60, 2), **run,
            "train_frames": len(train_frames), "held_out_frames": len(held),
            "held_out_psnr": round(last_scores["psnr"], 2) if last_scores else None}


def run_training(trainer: Trainer, folder: Path, held: np.ndarray, opts: TrainOptions, title: str, writer_class,
                 max_steps: int | None, budget_s: float | None) -> tuple[dict | None, dict]:
    """Train (resuming from the folder's checkpoint when asked) until the step or time budget, checkpointing,
    scoring `held` frames and drawing curves and previews as it goes; returns the last held-out scores and the
    run's step counts."""
    config, data = trainer.config, trainer.data
    state = md.load_checkpoint(folder) if opts.resume else None
    if state is not None:
        trainer.load(state)
        log.info("resuming %s at step %d (%.1f min trained)", folder, trainer.step, trainer.elapsed / 60)
    val_frames = held[np.linspace(0, len(held) - 1, min(config.validation_frames, len(held))).astype(int)]
    preview_frames = val_frames[np.linspace(0, len(val_frames) - 1, min(PREVIEW_ROWS, len(val_frames))).astype(int)]
    (folder / "previews").mkdir(exist_ok=True)
    board = writer_class(str(folder / "tensorboard")) if writer_class else None

    def checkpoint() -> dict:
        scores, output = trainer.validate(val_frames)
        trainer.history["validation"].append({**scores, "elapsed_s": round(trainer.elapsed, 1)})
        rows = np.searchsorted(val_frames, preview_frames)
        cond = data.windows(preview_frames, 1)[:, 0:3].cpu()
        write_preview(folder / "previews" / f"step_{trainer.step:07d}.png", cond, output[rows],
                      data.real(preview_frames).cpu())
        md.save_checkpoint(folder, trainer.state())
        write_json(folder / "history.json", trainer.history)
        write_loss_curve(folder / "loss_curve.png", trainer.history, title)
        if board is not None:
            board.add_scalar("held_out/psnr", scores["psnr"], trainer.step)
            board.add_scalar("held_out/l1", scores["l1"], trainer.step)
        log.info("step %d: held-out PSNR %.2f dB, L1 %.4f", trainer.step, scores["psnr"], scores["l1"])
        return scores

    def done() -> bool:
        return (max_steps is not None and trainer.step >= max_steps) or \
               (budget_s is not None and trainer.elapsed >= budget_s)

    total = max_steps if max_steps is not None else int(budget_s)
    by_time = max_steps is None  # the bar counts seconds of the time budget, or steps
    # The bar's description, at its end, carries the step, the losses and the last held-out score.
    bar = tqdm(total=total, initial=min(total, int(trainer.elapsed) if by_time else trainer.step), desc="",
               disable=not opts.show_progress, dynamic_ncols=True, mininterval=1.0,
               bar_format="train: {percentage:3.0f}%|{bar}| " + ("{elapsed}<{remaining}" if by_time else
                                                                  "{n_fmt}/{total_fmt} steps [{elapsed}<{remaining}]")
               + " {desc}")
    running: list[dict] = []
    last_scores = trainer.history["validation"][-1] if trainer.history["validation"] else None
    steps_at_start, clock = trainer.step, time.perf_counter()
    try:
        while not done():
            t0 = time.perf_counter()
            losses = trainer.train_step()
            running.append(losses)
            if trainer.step % LOG_EVERY == 0:
                mean = {k: float(np.mean([r[k] for r in running])) for k in losses}
                trainer.history["train"].append({"step": trainer.step, **mean})
                if board is not None:
                    for k, v in mean.items():
                        board.add_scalar(f"train/{k}", v, trainer.step)
                running.clear()
            trainer.elapsed += time.perf_counter() - t0
            if trainer.step % config.checkpoint_every == 0:
                t0 = time.perf_counter()
                last_scores = checkpoint()
                trainer.elapsed += time.perf_counter() - t0
            bar.update(min(total, int(trainer.elapsed)) - bar.n if by_time else 1)
            bar.set_description_str(f"step {trainer.step} l1 {losses['l1']:.3f} d {losses['d']:.2f}"
                                    + (f" held-out {last_scores['psnr']:.1f} dB" if last_scores else ""), refresh=False)
        if trainer.step != steps_at_start and trainer.step % config.checkpoint_every:
            last_scores = checkpoint()
    finally:
        bar.close()
        if board is not None:
            board.close()
    run_s = time.perf_counter() - clock
    return last_scores, {"steps_this_run": trainer.step - steps_at_start,
                         "steps_per_second": round((trainer.step - steps_at_start) / max(run_s, 1e-9), 3)}
