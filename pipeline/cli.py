"""The `dvp` command line: parses arguments into the stage functions' and the job runner's inputs, nothing more.

One vocabulary across commands: the command's video comes first; `-o` is its
main output; `--track` and `--face` are that video's track and which face to
follow when it is tracked now; `--report` writes a JSON report; `--device`
chooses where networks run; `-q` hides progress bars. Every command prints a
one-line JSON summary on stdout; tables, steps and warnings go to stderr.
Spellings of an earlier release still work for one more, with a warning.

Errors caused by the input (a missing file, a video with no face, an unreadable
track) print one clear line and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from base.errors import DvpError

RASTERIZERS = ["auto", "builtin", "pytorch3d"]
_deprecations: list[str] = []


def _face(value: str) -> str | int:
    if value == "largest":
        return value
    try:
        index = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("--face takes 'largest' or a face index (0 = leftmost)") from None
    if index < 0:
        raise argparse.ArgumentTypeError("--face index must be 0 or more")
    return index


class _Deprecated(argparse.Action):
    """An option spelled as an earlier release spelled it: stored where the new one is, and warned of."""

    def __init__(self, option_strings, dest, instead: str, **kwargs):
        self.instead = instead
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        _deprecations.append(f"{option_string} is deprecated and goes in the next release; {self.instead}")
        setattr(namespace, self.dest, values)


def _output(p: argparse.ArgumentParser, help: str, required: bool = True, **kwargs) -> None:
    p.add_argument("-o", "--output", required=required, help=help, **kwargs)


def _report(p: argparse.ArgumentParser, what: str = "the command's summary and statistics") -> None:
    p.add_argument("--report", help=f"also write a JSON report: {what}")


def _device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="where the networks run: cpu, cuda (or cuda:N), or auto, the GPU "
                   "when torch sees one (default)")


def _face_option(p: argparse.ArgumentParser, flag: str = "--face", whose: str = "the video") -> None:
    p.add_argument(flag, type=_face, default="largest",
                   help=f"which face of {whose} to follow when it is tracked now: 'largest' (default) or an index "
                        "counted from the left in the first frame with faces")


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _summary(data: dict, keys: tuple[str, ...] | None = None) -> None:
    print(json.dumps(data if keys is None else {k: data[k] for k in keys if k in data}))


def _finish(args: argparse.Namespace, summary: dict, shown: dict | None = None) -> int:
    """The end of a command: the report written when asked, the summary (or `shown`) printed; exit status 0."""
    from base.atomic import write_json

    if args.report:
        write_json(args.report, summary)
    _summary(summary if shown is None else shown)
    return 0


def _video_and(args: argparse.Namespace, other: str, usage: str, hint: str) -> tuple[str, str]:
    """The command's video and its other input, spelled as now (VIDEO --OTHER X) or as the earlier release spelled
    them (X --video VIDEO, with a warning at parsing)."""
    video, given = args.video, getattr(args, other)
    if args.old_video is not None:
        if given is not None:
            raise DvpError(f"give the {other} once: {usage}")
        video, given = args.old_video, args.video
    if given is None:
        raise DvpError(f"give the video's {other}: {usage} ({hint})")
    return video, given


def _add_track(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track", help="fit the 3D face model to every frame of a video",
                       description="Fit the parametric face model (pose, expression, gaze, blinks, lighting) "
                                   "to every frame of VIDEO and write a Track file.")
    p.add_argument("video", help="input video (any format ffmpeg reads), or a folder with an image sequence")
    _output(p, "track file to write (.npz)")
    p.add_argument("--preview", help="also write an MP4 with the fitted mesh, head axes and gaze rays drawn over it")
    _report(p, "frame counts, errors, speed per stage, memory")
    _face_option(p)
    p.add_argument("--backend", default="mediapipe", choices=["mediapipe", "face-alignment"],
                   help="landmark detector (default: mediapipe, 478 points with irises, no download)")
    p.add_argument("--max-faces", type=int, default=3, help="faces looked for per frame (default 3)")
    p.add_argument("--focal-length", type=float,
                   help="focal length in pixels (default: 30 degree horizontal field of view)")
    p.add_argument("--max-gap", type=int, default=5, help="longest run of lost frames to interpolate (default 5)")
    p.add_argument("--no-smoothing", action="store_true", help="fit the raw landmarks without temporal filtering")
    _quiet(p)


def _run_track(args: argparse.Namespace) -> int:
    from pipeline.tracking import TrackOptions, track_video

    opts = TrackOptions(backend=args.backend, face=args.face, max_faces=args.max_faces,
                        focal_length=args.focal_length, max_gap=args.max_gap,
                        smoothing=not args.no_smoothing, show_progress=not args.quiet)
    report = track_video(args.video, args.output, preview=args.preview, report=args.report, options=opts)
    summary = {k: report[k] for k in ("frames", "valid_frames", "interpolated_frames", "nme", "reprojection_error_px")}
    summary["fps_total"] = report["frames_per_second"]["total"]
    _summary(summary)
    return 0


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render the conditioning images of a tracked video",
                       description="Render the network's conditioning (colour, correspondence, eye gaze) for every "
                                   "frame of VIDEO's track inside the shot's fixed crop, and write a side-by-side "
                                   "preview video and a contact sheet.")
    p.add_argument("video", help="the video (or, with the deprecated --video, the track)")
    p.add_argument("--track", help="the video's track, from `dvp track`")
    p.add_argument("--video", dest="old_video", action=_Deprecated,
                   instead="give the video first and its track with --track: dvp render VIDEO --track TRACK")
    _output(p, "preview video to write (.mp4)")
    p.add_argument("--size", type=int, default=256,
                   help="conditioning resolution in pixels (default 256; 512 supported)")
    _report(p, "crop box, speed, memory, channel layout")
    p.add_argument("--contact-sheet", help="contact sheet PNG (default: the preview's name with .png)")
    p.add_argument("--frames", type=int, help="render only the first N frames (a quick look)")
    p.add_argument("--rasterizer", default="auto", choices=RASTERIZERS,
                   help="auto (default): PyTorch3D when installed and a GPU is present, else the built-in one")
    _quiet(p)


def _run_render(args: argparse.Namespace) -> int:
    from pipeline.render_preview import render_video

    video, track = _video_and(args, "track", "dvp render VIDEO --track TRACK", "make it with `dvp track`")
    report = render_video(track, video, args.output, size=args.size, report=args.report,
                          rasterizer=args.rasterizer, contact_sheet=args.contact_sheet, max_frames=args.frames,
                          show_progress=not args.quiet)
    _summary(report, ("frames", "valid_frames", "size", "rasterizer", "crop", "photometric_error",
                      "conditioning_frames_per_second", "frames_per_second"))
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    from translation.config import PRESETS

    p = sub.add_parser("train", help="train the rendering-to-video network on a target actor",
                       description="Train the space-time conditional GAN that turns conditioning windows into "
                                   "frames of the actor in VIDEO. The last part of the video is held out for "
                                   "validation. Checkpoints are written atomically; a stopped run continues with "
                                   "--resume.")
    p.add_argument("video", help="target video: about a minute of the actor (any format ffmpeg reads)")
    _output(p, "model folder to create (or to continue with --resume)")
    p.add_argument("--track", help="the video's track from `dvp track` (default: track it now)")
    _face_option(p)
    p.add_argument("--preset", choices=list(PRESETS),
                   help="network size and resolution: cpu (128, for 2 CPU cores; the default for a new model), gpu "
                        "(256, for one GPU), paper (256, the paper's widths), hd (512), tiny (tests)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="train until this much training time in all (default 30)")
    budget.add_argument("--steps", type=int, help="train until this many steps in all")
    p.add_argument("--resume", action="store_true",
                   help="continue the model in the output folder from its last checkpoint")
    pathway = p.add_mutually_exclusive_group()
    pathway.add_argument("--eyes", action="store_true",
                         help="train the eye pathway of the model in the output folder instead (MODEL_DIR/eyes: a "
                              "small network that repaints each eye at the source's resolution; default 10 minutes)")
    pathway.add_argument("--mouth", action="store_true",
                         help="train the mouth pathway of the model in the output folder instead (MODEL_DIR/mouth: a "
                              "network that repaints the lips, teeth and the skin around them at about the source's "
                              "resolution; default 20 minutes)")
    p.add_argument("--window", type=int, help="override the preset's space-time window N_w (1 for the ablation)")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--checkpoint-every", type=int, help="override the preset's steps between checkpoints")
    p.add_argument("--plate-other-frame", action="store_const", const=True, default=None,
                   help="train with the plate of another training frame, as synthesis gives the original frame's "
                        "(needs a preset with the plate, such as cpu)")
    p.add_argument("--pose-balance", type=float, metavar="POWER",
                   help="draw training frames with probability density ** -POWER over head pose and gaze, so the "
                        "footage's rare poses are learnt too (0 uniform, the presets' default; 1 even over the "
                        "poses)")
    p.add_argument("--seed", type=int, default=0, help="random seed of initialisation and sampling (default 0)")
    _device(p)
    _report(p, "the training summary")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs to MODEL_DIR/tensorboard")
    p.add_argument("--rasterizer", default="auto", choices=RASTERIZERS,
                   help="rasteriser for the training conditioning (default auto)")
    _quiet(p)


def _run_train(args: argparse.Namespace) -> int:
    from pipeline.training import train_model, training_config
    from translation.training import TrainOptions

    folder = Path(args.output)
    options = TrainOptions(steps=args.steps, minutes=args.minutes, resume=args.resume, rasterizer=args.rasterizer,
                           tensorboard=args.tensorboard, seed=args.seed, show_progress=not args.quiet,
                           device=args.device)
    if args.eyes or args.mouth:
        from translation.pathway_training import train_pathway
        from translation.pathways import PATHWAYS

        name = "eyes" if args.eyes else "mouth"
        if args.preset or args.track or args.window or args.batch_size or args.checkpoint_every \
                or args.plate_other_frame or args.pose_balance is not None:
            raise DvpError(f"--{name} trains {PATHWAYS[name].called} of an existing model, with its own fixed settings: "
                           "leave out --preset, --track, --window, --batch-size, --checkpoint-every, "
                           "--plate-other-frame and --pose-balance")
        summary = train_pathway(PATHWAYS[name], args.video, folder, options)
    else:
        config = training_config(folder, args.preset, window=args.window, batch_size=args.batch_size,
                                 checkpoint_every=args.checkpoint_every, plate_other_frame=args.plate_other_frame,
                                 pose_balance=args.pose_balance)
        summary = train_model(args.video, folder, config, args.track, options, face=args.face)
    return _finish(args, summary)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a trained model on the held-out frames of its target video",
                       description="Self-reenactment of the held-out part of the target video: PSNR and SSIM on the "
                                   "face crop and the mouth, and flicker, for the model and for two baselines "
                                   "(nearest-neighbour retrieval, and the window-1 ablation or its substitute), plus "
                                   "a side-by-side preview video. The scores are printed as a table on stderr.")
    p.add_argument("video", help="the target video the model was trained on (or, with the deprecated --video, the "
                                 "model folder)")
    p.add_argument("--model", help="model folder from `dvp train` on VIDEO")
    p.add_argument("--video", dest="old_video", action=_Deprecated,
                   instead="give the video first and the model with --model: dvp evaluate VIDEO --model MODEL_DIR")
    _output(p, "preview video, conditioning | output | real (default MODEL_DIR/evaluation.mp4)", required=False)
    p.add_argument("--preview", dest="output", action=_Deprecated, instead="use -o PREVIEW.mp4")
    _report(p, "the scores of every method")
    p.add_argument("--ablation", help="a model trained with --window 1 on the same video, scored as the window-1 "
                                      "baseline (default: this model with a static window)")
    _device(p)
    _quiet(p)


def _run_evaluate(args: argparse.Namespace) -> int:
    from pipeline.evaluation import evaluate

    video, model = _video_and(args, "model", "dvp evaluate VIDEO --model MODEL_DIR", "from `dvp train`")
    report = evaluate(model, video, report=args.report, preview=args.output, ablation=args.ablation,
                      show_progress=not args.quiet, device=args.device)
    first, last, count = report["held_out_frames"]
    table = [f"held-out frames {first}-{last} of {report['video']} ({count} frames), model step {report['step']}, "
             f"{report['size']}x{report['size']}",
             "| method | PSNR face crop | SSIM face crop | PSNR head | PSNR mouth | SSIM mouth | flicker | sharpness | "
             "checkerboard |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, m in report["methods"].items():
        flick = f"{m['flicker']:.2f}" if m["flicker"] is not None else "-"
        table.append(f"| {name} | {m['psnr_face']:.2f} | {m['ssim_face']:.3f} | {m['psnr_head']:.2f} | "
                     f"{m['psnr_mouth']:.2f} | {m['ssim_mouth']:.3f} | {flick} | {m['sharpness']:.2f} | "
                     f"{m['checkerboard']:.2f} |")
    table.append(f"window_1: {report['methods']['window_1']['kind']}")
    print("\n".join(table), file=sys.stderr)
    scores = ("psnr_face", "ssim_face", "psnr_head", "psnr_mouth", "ssim_mouth", "flicker", "flicker_head",
              "flicker_mouth", "sharpness", "checkerboard")
    _summary({"held_out_frames": report["held_out_frames"], "step": report["step"], "preview": report["preview"],
              "methods": {name: {k: m[k] for k in scores} for name, m in report["methods"].items()}})
    return 0


def _add_mark_options(p: argparse.ArgumentParser) -> None:
    """How the output is marked and signed (see `pipeline.marking`)."""
    from pipeline.label import CORNERS, DEFAULT_TEXT

    g = p.add_argument_group("marks", "every output carries a visible label, an invisible watermark (job id and dvp's "
                                      "version) and a signed C2PA manifest; `dvp verify` reads them back")
    g.add_argument("--no-visible-mark", action="store_true",
                   help="leave the visible label out (recorded in the manifest; the watermark stays)")
    g.add_argument("--mark-text", default=DEFAULT_TEXT, help=f"the label's text (default {DEFAULT_TEXT!r})")
    g.add_argument("--mark-corner", default="bottom-right", choices=CORNERS, help="where the label sits")
    g.add_argument("--mark-size", type=float, default=0.04,
                   help="the label's text height over the frame's height (default 0.04)")
    g.add_argument("--mark-opacity", type=float, default=0.8, help="0.1 (faint) to 1 (solid); default 0.8")
    g.add_argument("--signing-key", help="PEM private key the manifest is signed with (default: DVP_SIGNING_KEY, else "
                                         "a local test pair made on first use)")
    g.add_argument("--signing-cert", help="its PEM certificate chain, leaf first (default: DVP_SIGNING_CERT)")
    g.add_argument("--job-id", help="8 hex digits for the watermark and manifest to carry (default: a hash of the "
                                    "job's inputs and settings); e.g. a studio's own job number")


def _mark_options(args: argparse.Namespace):
    from pipeline.label import Label
    from pipeline.marking import MarkOptions

    return MarkOptions(visible=not args.no_visible_mark,
                       label=Label(args.mark_text, args.mark_corner, args.mark_size, args.mark_opacity),
                       signing_key=Path(args.signing_key) if args.signing_key else None,
                       signing_cert=Path(args.signing_cert) if args.signing_cert else None, job_id=args.job_id)


def _add_job_options(p: argparse.ArgumentParser, audio_default: str | None) -> None:
    """What every job that writes a changed target shot takes (see `pipeline.job.JobOptions`); a job whose sound is
    its own (a dub) takes no --audio choice (`audio_default` None)."""
    _output(p, "output video (.mp4, .mov) or folder for a PNG sequence")
    p.add_argument("--track", help="the target's track (default: the model's own, or track the target now)")
    p.add_argument("--target-track", dest="track", action=_Deprecated, instead="use --track")
    _face_option(p, whose="the target")
    p.add_argument("--format", choices=["mp4", "prores", "png"],
                   help="output format (default from the name: .mp4 H.264, .mov ProRes 422 HQ, no suffix: PNG "
                        "sequence)")
    if audio_default is not None:
        choices = "source, target, none" if audio_default == "source" else "target, none"
        p.add_argument("--audio", dest="output_audio", default=audio_default,
                       help=f"audio of the output: {choices}, or an audio file (default {audio_default})")
    p.add_argument("--bit-depth", choices=["source", "8"], default="source",
                   help="source (default): a target of 10 to 16 bits per component keeps them in ProRes (10 bits) and "
                        "PNG (16 bits); 8: write 8-bit frames (smaller, faster PNGs). H.264 is always 8-bit")
    p.add_argument("--preview", help="also write a side-by-side preview video (.mp4)")
    _report(p, "frames, speed, calibrations, coverage, faithfulness")
    p.add_argument("--verify", action="store_true",
                   help="track the output again and report head-pose, expression and gaze errors against the intent")
    p.add_argument("--rasterizer", default="auto", choices=RASTERIZERS)
    p.add_argument("--no-eyes", action="store_true",
                   help="leave the model's eye pathway out (by default it repaints the eyes when the model has one)")
    p.add_argument("--no-mouth", action="store_true",
                   help="leave the model's mouth pathway out (by default it repaints the mouth when the model has one)")
    p.add_argument("--retrieval", action="store_true",
                   help="after the mouth pathway, paint the lips and teeth from the target's own frames whose lips are "
                        "nearest in shape (Synthesizing Obama's way; better than the network on some shots, worse on "
                        "others: see the docs)")
    p.add_argument("--no-gaze-warp", action="store_true",
                   help="keep the painted eyeballs (by default the target frame's own eyeballs are turned to the "
                        "intended gaze and put back inside the eye openings)")
    p.add_argument("--gaze-gain", type=float,
                   help="share of a sideways eyeball turn the tracker reads back, for the gaze warp (default: "
                        "measured on the target in a few seconds; 1 turns the eyeballs by the tracked change)")
    p.add_argument("--no-pose-calibration", action="store_true",
                   help="condition the network on the asked head pose as it is (by default a pilot pass over a few "
                        "stretches of the job measures how much of the asked pose the model paints, and the "
                        "network is asked for the inverse)")
    _device(p)
    _quiet(p)
    _add_mark_options(p)


def _job_options(args: argparse.Namespace):
    from pipeline.job import JobOptions

    return JobOptions(track=args.track, face=args.face, fmt=args.format, audio=getattr(args, "output_audio", None),
                      keep_depth=args.bit_depth == "source", preview=args.preview, report=args.report,
                      verify=args.verify, rasterizer=args.rasterizer, device=args.device, eyes=not args.no_eyes,
                      mouth=not args.no_mouth, retrieval=args.retrieval, gaze_warp=not args.no_gaze_warp,
                      gaze_gain=args.gaze_gain,
                      pose_calibration=not args.no_pose_calibration, show_progress=not args.quiet,
                      marks=_mark_options(args))


def _print_result(report: dict) -> None:
    _summary(report, ("output", "frames", "synthesised_frames", "eyes_only_frames", "passed_through_frames",
                      "held_source_frames", "edited_frames", "frames_per_second", "faithfulness"))


def _add_reenact(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reenact", help="drive the target actor with a source actor's performance",
                       description="Full-head reenactment: the source's head motion (relative to its rest pose), "
                                   "expression, gaze and blinks drive the target actor through the target's trained "
                                   "model; the result is composited into the target footage.")
    p.add_argument("target", nargs="?", help="target video: the shot the model was trained on")
    p.add_argument("--target", dest="old_target", action=_Deprecated,
                   instead="give the target video first: dvp reenact TARGET --source SOURCE --model MODEL_DIR")
    p.add_argument("--source", required=True, help="source video: the performance to transfer")
    p.add_argument("--model", required=True, help="model folder from `dvp train` on the target")
    p.add_argument("--source-track", help="the source's track (default: track the source now)")
    _face_option(p, "--source-face", "the source (who drives when it shows several people)")
    p.add_argument("--transfer", default="pose,expression,gaze,blink",
                   help="what to carry over, comma-separated (default: pose,expression,gaze,blink)")
    _add_job_options(p, "source")


def _run_reenact(args: argparse.Namespace) -> int:
    from pipeline.reenactment import reenact
    from pipeline.transfer import parse_parts

    if (args.target is None) == (args.old_target is None):
        raise DvpError("give the target video once: dvp reenact TARGET --source SOURCE --model MODEL_DIR -o OUT")
    _print_result(reenact(args.source, args.target or args.old_target, args.model, args.output,
                          parse_parts(args.transfer), args.source_track, args.source_face, _job_options(args)))
    return 0


def _add_edit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edit", help="edit the target's performance (head pose, expression, gaze, blinks)",
                       description="Apply an edit spec (YAML or JSON; see data/edit_example.yaml) to the target "
                                   "video through its trained model; gaze edits alone need no model. Frames outside "
                                   "the edited ranges are passed through unchanged.")
    p.add_argument("target", help="target video: the shot the model was trained on")
    p.add_argument("--edits", required=True, help="edit spec (.yaml or .json)")
    p.add_argument("--model", help="model folder from `dvp train` on the target (not needed when every edit is a "
                                    "gaze edit: the shot's own eyeballs are turned)")
    _add_job_options(p, "target")


def _run_edit(args: argparse.Namespace) -> int:
    from pipeline.editing import edit

    _print_result(edit(args.target, args.model, args.edits, args.output, _job_options(args)))
    return 0


def _add_dub(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dub", help="lip-sync the target actor to new dialogue",
                       description="A lip-synced dub: the target keeps its head pose, gaze, blinks and upper face, "
                                   "re-timed to the dub (pauses mapped to pauses), and its mouth follows the new "
                                   "dialogue: from a dubbing actor's filmed performance (--driver) or from the dub's "
                                   "sound alone (--audio, through the audio-to-mouth model). The output lasts as long "
                                   "as the dub and carries it at its own sample rate and depth.")
    p.add_argument("target", help="target video: the shot the model was trained on")
    p.add_argument("--model", required=True, help="model folder from `dvp train` on the target")
    p.add_argument("--audio", help="the dub's dialogue (a sound file, or a video's sound); with --driver, instead of "
                                   "the driver's own soundtrack")
    p.add_argument("--driver", help="the dubbing actor's video: their mouth drives the target's")
    p.add_argument("--driver-track", help="the dubbing actor's track (default: track the driver now)")
    p.add_argument("--audio-model", help="the audio-to-mouth model from `dvp train-audio` (default: the one dvp "
                                         "ships, data/audio_mouth.pt)")
    p.add_argument("--keep-length", action="store_true",
                   help="keep the shot's length and timing; the dub is cut or padded with silence (warned of)")
    p.add_argument("--same-language", action="store_true",
                   help="the dub is in the original's language: refine the retiming by time warping the two "
                        "dialogues' spectra, syllable to syllable")
    p.add_argument("--music-effects", metavar="ME", help="a music-and-effects stem mixed under the dialogue")
    p.add_argument("--stems", action="store_true",
                   help="write dialogue and M&E as separate tracks instead of a mix (MOV / ProRes)")
    p.add_argument("--loudness", type=float, metavar="LUFS",
                   help="bring the mix to this integrated loudness (ITU-R BS.1770; -23 for EBU R128). By default the "
                        "level is measured and reported, not changed")
    _add_job_options(p, None)


def _run_dub(args: argparse.Namespace) -> int:
    from pipeline.delivery import DeliverySettings
    from pipeline.dubbing import DubSettings, dub

    delivery = DeliverySettings(Path(args.music_effects) if args.music_effects else None, args.stems, args.loudness)
    settings = DubSettings(args.keep_length, args.same_language, delivery)
    report = dub(args.target, args.model, args.output, args.audio, args.driver, args.driver_track, args.audio_model,
                 settings, _job_options(args))
    _summary(report, ("output", "frames", "synthesised_frames", "frames_per_second", "mouth_from", "loudness_lufs",
                      "true_peak_dbtp", "faithfulness"))
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on inputs that need no download",
                       description="The whole job on clips made from scikit-image's astronaut portrait: track a "
                                   "target and a driver, train the target's model, evaluate it, reenact the target "
                                   "with the driver and edit its performance. With ../shared/footage (or "
                                   "$DVP_FOOTAGE) present, a real face (lp_d0.mp4) also drives the astronaut. "
                                   "Each step prints a line on stderr as it finishes.")
    _output(p, "folder for the results (default demo_out)", required=False, default="demo_out")
    p.add_argument("--minutes", type=float, default=4.0,
                   help="training time for the target's model (default 4; its eye pathway gets a quarter of it)")
    _device(p)
    _report(p, "every step's results")
    _quiet(p)


def _run_demo(args: argparse.Namespace) -> int:
    import os

    from pipeline.demo import run_demo

    footage = Path(os.environ.get("DVP_FOOTAGE", "../shared/footage"))
    summary = run_demo(args.output, args.minutes, footage if footage.is_dir() else None, not args.quiet,
                       device=args.device, say=lambda line: print(line, file=sys.stderr, flush=True))
    return _finish(args, summary, {"output": summary["output"], "steps": len(summary["lines"])})


def _add_train_audio(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-audio", help="train the audio-to-mouth model (or the lip-sync meter) on clips with "
                                          "speech",
                       description="Track each clip (a speaker on screen and their speech), analyse its sound and "
                                   "train the network that hears the mouth's motion in speech: the audio-to-mouth "
                                   "model that dubs are made with, or with --meter the lip-sync meter's own model. "
                                   "With --from, adapt an existing model to one actor's way of speaking from that "
                                   "actor's footage.")
    p.add_argument("clips", nargs="+", metavar="CLIP", help="videos with a speaker on screen and their speech")
    _output(p, "model file to write (*.pt)")
    p.add_argument("--meter", action="store_true",
                   help="train the lip-sync meter's model (the lip gap and the jaw opening, for `dvp sync-check`) "
                        "instead of the audio-to-mouth model")
    p.add_argument("--from", dest="start", metavar="MODEL",
                   help="adapt this model to the clips (an actor's own footage) instead of training a new one")
    p.add_argument("--steps", type=int, help="training steps (default 800, or 300 when adapting)")
    p.add_argument("--tracks", metavar="DIR",
                   help="folder to keep the clips' tracks in (NAME.track.npz), reused when they are there")
    p.add_argument("--prior", type=float, help="weight of the rule-based viseme mouth mixed into a new mouth model's "
                                               "output (default 0.5; 0: the network alone)")
    p.add_argument("--seed", type=int, help="random seed (default 0, or 1 for the meter: it starts from other weights "
                                            "than the audio-to-mouth model)")
    _report(p, "the training summary")
    _quiet(p)


def _run_train_audio(args: argparse.Namespace) -> int:
    from pipeline.speech_training import train_audio

    summary = train_audio(args.clips, args.output, meter=args.meter, start=args.start, steps=args.steps,
                          tracks=args.tracks, seed=args.seed, prior=args.prior, show_progress=not args.quiet)
    return _finish(args, summary)


def _add_sync_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sync-check", help="measure how far the speech is out of sync with the mouth",
                       description="Track the video again and compare the mouth's opening with what the lip-sync "
                                   "meter hears in the speech, at lags of the sound up to 15 frames either way. "
                                   "Prints the offset in frames (positive: the sound comes late) and a confidence, "
                                   "or says that there is too little speech, or too unclear, for a reading.")
    p.add_argument("video", help="the video to check")
    p.add_argument("--audio", help="the speech to check it against (default: the video's own sound)")
    p.add_argument("--track", help="the video's track from `dvp track` (default: track it now)")
    p.add_argument("--meter", help="the meter's model from `dvp train-audio --meter` (default: the one dvp ships)")
    _report(p, "the reading and the score at every lag")
    p.add_argument("--plot", help="also draw the score over lags and the two mouths over time (PNG)")
    _quiet(p)


def _run_sync_check(args: argparse.Namespace) -> int:
    from pipeline.sync_check import sync_check

    summary = sync_check(args.video, args.audio, args.track, args.meter, args.report, args.plot,
                         show_progress=not args.quiet)
    print(summary["reading"], file=sys.stderr)
    _summary(summary)
    return 0


def _add_animate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("animate", help="bring a still portrait to life: a driver's motion or speech, no training",
                       description="Fit the face model to every face of the photo and move it by a driver (its head "
                                   "turns, expression, gaze and blinks relative to its own rest) or by speech (the "
                                   "mouth from the audio-to-mouth model, a gentle sway and blinks): the photo is "
                                   "warped by the moving mesh, the head, hair and neck following and the background "
                                   "still, the mouth interior painted as the lips part, the eyeballs turned. No "
                                   "trained network is needed. See `dvp drivers list` for the drivers at hand.")
    p.add_argument("photo", help="the portrait (JPEG, PNG, TIFF, BMP; colour or grayscale; several faces are fine)")
    p.add_argument("--driver", action="append", metavar="NAME_OR_VIDEO",
                   help="a driver's name (built-in or from the library) or a video of a performer; repeat it to "
                        "give each face its own, matched left to right")
    p.add_argument("--audio", help="speech to make the faces say (WAV, MP3, or any file with sound)")
    p.add_argument("-o", "--output", required=True, help="the video to write (.mp4: H.264, .mov: ProRes)")
    p.add_argument("--seconds", type=float, help="length of the output (default: the driver's, or the speech's)")
    p.add_argument("--no-gaze", action="store_true", help="keep the photo's eyeballs as they are")
    p.add_argument("--no-mouth", action="store_true", help="do not paint the mouth interior")
    p.add_argument("--verify", action="store_true",
                   help="track the output again and score each face's head turns and expression against its driver")
    _report(p, "the photo, the faces, the drivers, frames and speed (and the scores, with --verify)")
    _quiet(p)
    _add_mark_options(p)


def _run_animate(args: argparse.Namespace) -> int:
    from pipeline.animation import AnimateOptions, animate

    options = AnimateOptions(report=Path(args.report) if args.report else None, show_progress=not args.quiet,
                             gaze=not args.no_gaze, mouth=not args.no_mouth, seconds=args.seconds,
                             verify=args.verify, marks=_mark_options(args))
    _summary(animate(args.photo, args.output, args.driver, args.audio, options))
    return 0


def _add_drivers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drivers", help="the library of drivers for `dvp animate` (motion, not footage)",
                       description="Drivers are performances kept as motion parameters: the built-in ones (made "
                                   "from the face model: nod, shake, smile, blink, look-around, hello) and those "
                                   "added from videos, kept in the user's data folder (or DVP_DRIVERS).")
    verbs = p.add_subparsers(dest="drivers_command", required=True)
    add = verbs.add_parser("add", help="track a video and keep its motion as a named driver")
    add.add_argument("name", help="the driver's name (letters, digits, '.', '_', '-')")
    add.add_argument("video", help="the performer's video")
    _quiet(add)
    verbs.add_parser("list", help="the drivers at hand")
    remove = verbs.add_parser("remove", help="delete a driver from the library")
    remove.add_argument("name")


def _run_drivers(args: argparse.Namespace) -> int:
    from pipeline import drivers

    if args.drivers_command == "add":
        _summary(drivers.add_driver(args.name, args.video, show_progress=not args.quiet))
    elif args.drivers_command == "list":
        listed = drivers.list_drivers()
        for d in listed:
            print(f"{d['name']:<16} {d['seconds']:>6.2f} s  {'built-in' if d['built_in'] else d['source']}",
                  file=sys.stderr)
        _summary({"library": str(drivers.library()), "drivers": listed})
    else:
        drivers.remove_driver(args.name)
        _summary({"removed": args.name, "library": str(drivers.library())})
    return 0


def _add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="read a video's dvp watermark and C2PA manifest, and check them",
                       description="Read the invisible watermark (job id, dvp's version, a confidence) from the "
                                   "pictures and the C2PA manifest (embedded, or the sidecar VIDEO.c2pa), check the "
                                   "manifest's signature and binding, and whether the decoded pictures still match "
                                   "it. Exit status 0: a dvp mark or an intact manifest and nothing contradicting "
                                   "them; 1: unmarked, or a manifest that does not match; 2: bad input.")
    p.add_argument("video", help="the video (or PNG-sequence folder) to check")
    p.add_argument("--manifest", help="a sidecar manifest to check against the video (default: VIDEO.c2pa)")
    _report(p, "the watermark, the manifest and what it says, the verdict")
    _quiet(p)


def _run_verify(args: argparse.Namespace) -> int:
    from pipeline.verification import verify

    result = verify(args.video, args.manifest, show_progress=not args.quiet)
    print(f"{Path(args.video).name}: {result['verdict']}", file=sys.stderr)
    _finish(args, result, {k: result[k] for k in ("video", "ok", "verdict", "watermark", "watermark_matches_manifest")}
            | {"manifest": {k: result["manifest"][k] for k in ("found", "where", "valid", "pictures_match", "job_id")}})
    return 0 if result["ok"] else 1


def _add_signing_pair(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("signing-pair", help="make a local test key and certificate for signing manifests",
                       description="Write key.pem and cert.pem (an ES256 signing certificate issued by a test CA "
                                   "made with it) to FOLDER, for --signing-key/--signing-cert or DVP_SIGNING_KEY/"
                                   "DVP_SIGNING_CERT. Manifests signed with it verify as intact but not trusted: for "
                                   "deliveries, sign with a certificate from a CA on the C2PA trust list.")
    p.add_argument("folder", help="where to write the pair (made if missing; existing files are not overwritten)")
    p.add_argument("--name", default="dvp local test", help="the certificate's common name")


def _run_signing_pair(args: argparse.Namespace) -> int:
    from pipeline.provenance import make_test_pair

    pair = make_test_pair(Path(args.folder), args.name)
    _summary({"key": str(pair.key), "cert": str(pair.cert)})
    return 0


COMMANDS = {"track": (_add_track, _run_track), "render": (_add_render, _run_render),
            "train": (_add_train, _run_train), "evaluate": (_add_evaluate, _run_evaluate),
            "reenact": (_add_reenact, _run_reenact), "edit": (_add_edit, _run_edit), "dub": (_add_dub, _run_dub),
            "train-audio": (_add_train_audio, _run_train_audio), "sync-check": (_add_sync_check, _run_sync_check),
            "demo": (_add_demo, _run_demo), "animate": (_add_animate, _run_animate),
            "drivers": (_add_drivers, _run_drivers), "verify": (_add_verify, _run_verify),
            "signing-pair": (_add_signing_pair, _run_signing_pair)}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dvp")
    except PackageNotFoundError:  # run from a checkout that was not installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None, extra: dict | None = None) -> int:
    """The `dvp` command. `extra` adds commands from a layer above (the farm's, from `flows.cli`), as
    `{name: (add_parser, run)}`, without this layer importing it."""
    commands = {**COMMANDS, **(extra or {})}
    parser = argparse.ArgumentParser(prog="dvp", description="Deep Video Portraits: reenactment and dubbing of real "
                                                             "video. Every command prints a one-line JSON summary.")
    parser.add_argument("--version", action="version", version=f"dvp {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in commands.values():
        add(sub)
    _deprecations.clear()
    args = parser.parse_args(argv)
    for line in _deprecations:
        print(f"dvp {args.command}: warning: {line}", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    global _terminating
    _terminating = False
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        with logging_redirect_tqdm():  # warnings on lines of their own, not inside a progress bar's line
            return commands[args.command][1](args)
    except Exception as exc:
        if _terminating:  # the signal arrived inside a library, which reported it as a failure of its own
            return _cut_short(args.command, "terminated", 143)
        if not isinstance(exc, DvpError):
            raise
        print(f"dvp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _cut_short(args.command, "interrupted", 130)
    except Terminated:
        return _cut_short(args.command, "terminated", 143)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cut_short(command: str, how: str, status: int) -> int:
    """After Ctrl-C or SIGTERM: remove what the `with` blocks on the way out could not (a signal that landed inside
    a writer's constructor), then report."""
    from base.ffmpeg_process import abandon_unfinished

    abandon_unfinished()
    print(f"dvp {command}: {how}; nothing was left half-written", file=sys.stderr)
    return status


class Terminated(BaseException):
    """SIGTERM (a batch scheduler's cancel, `timeout`), raised like Ctrl-C so that every `with` and `finally`
    on the way out removes its temporary files and stops its ffmpeg processes."""


_terminating = False


def _terminated(signum, frame) -> None:
    global _terminating
    _terminating = True
    raise Terminated


if __name__ == "__main__":
    sys.exit(main())
