"""The `dvp` command line.

Errors caused by the input (a missing file, a video with no face, an unreadable
track) print one clear line and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys

from pipeline.errors import DvpError


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


def _add_track(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track", help="fit the 3D face model to every frame of a video",
                       description="Fit the parametric face model (pose, expression, gaze, blinks, lighting) "
                                   "to every frame of VIDEO and write a Track file.")
    p.add_argument("video", help="input video (any format ffmpeg reads)")
    p.add_argument("-o", "--output", required=True, help="track file to write (.npz)")
    p.add_argument("--preview", help="also write an MP4 with the fitted mesh, head axes and gaze rays drawn over it")
    p.add_argument("--report", help="also write a JSON report: frame counts, errors, speed per stage, memory")
    p.add_argument("--backend", default="mediapipe", choices=["mediapipe", "face-alignment"],
                   help="landmark detector (default: mediapipe, 478 points with irises, no download)")
    p.add_argument("--face", type=_face, default="largest",
                   help="which face to follow when several are visible: 'largest' (default) or an index "
                        "counted from the left in the first frame with faces")
    p.add_argument("--max-faces", type=int, default=3, help="faces looked for per frame (default 3)")
    p.add_argument("--focal-length", type=float, help="focal length in pixels (default: 30 degree horizontal field of view)")
    p.add_argument("--max-gap", type=int, default=5, help="longest run of lost frames to interpolate (default 5)")
    p.add_argument("--no-smoothing", action="store_true", help="fit the raw landmarks without temporal filtering")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _run_track(args: argparse.Namespace) -> int:
    from pipeline.tracking import TrackOptions, track_video

    opts = TrackOptions(backend=args.backend, face=args.face, max_faces=args.max_faces,
                        focal_length=args.focal_length, max_gap=args.max_gap,
                        smoothing=not args.no_smoothing, show_progress=not args.quiet)
    report = track_video(args.video, args.output, preview=args.preview, report=args.report, options=opts)
    summary = {k: report[k] for k in ("frames", "valid_frames", "interpolated_frames", "nme",
                                      "reprojection_error_px")}
    summary["fps_total"] = report["frames_per_second"]["total"]
    print(json.dumps(summary))
    return 0


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render the conditioning images of a tracked video",
                       description="Render the network's conditioning (colour, correspondence, eye gaze) for every "
                                   "frame of a Track inside the shot's fixed crop, and write a side-by-side preview "
                                   "video and a contact sheet.")
    p.add_argument("track", help="track file from `dvp track`")
    p.add_argument("--video", required=True, help="the video the track was made from")
    p.add_argument("-o", "--output", required=True, help="preview video to write (.mp4)")
    p.add_argument("--size", type=int, default=256, help="conditioning resolution in pixels (default 256; 512 supported)")
    p.add_argument("--report", help="also write a JSON report: crop box, speed, memory, channel layout")
    p.add_argument("--contact-sheet", help="contact sheet PNG (default: the preview's name with .png)")
    p.add_argument("--frames", type=int, help="render only the first N frames (a quick look)")
    p.add_argument("--rasterizer", default="auto", choices=["auto", "builtin", "pytorch3d"],
                   help="auto (default): PyTorch3D when installed and a GPU is present, else the built-in one")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _run_render(args: argparse.Namespace) -> int:
    from pipeline.render_preview import render_video

    report = render_video(args.track, args.video, args.output, size=args.size, report=args.report,
                          rasterizer=args.rasterizer, contact_sheet=args.contact_sheet, max_frames=args.frames,
                          show_progress=not args.quiet)
    print(json.dumps({k: report[k] for k in ("frames", "valid_frames", "size", "rasterizer", "crop", "photometric_error",
                                             "conditioning_frames_per_second", "frames_per_second")}))
    return 0


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on inputs that need no download",
                       description="Track a clip made from scikit-image's astronaut portrait (moved rigidly), "
                                   "and the real clips in ../shared/footage (or $DVP_FOOTAGE) when present.")
    p.add_argument("-o", "--output", default="demo_out", help="folder for the results (default demo_out)")


def _run_demo(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from pipeline.demo import astronaut_clip
    from pipeline.tracking import track_video

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    videos = [out / "astronaut.mp4"]
    astronaut_clip(videos[0])
    footage = Path(os.environ.get("DVP_FOOTAGE", "../shared/footage"))
    if (footage / "hdtf_aoc.mp4").is_file():
        videos.append(footage / "hdtf_aoc.mp4")
    for video in videos:
        stem = out / video.stem
        report = track_video(video, f"{stem}.track.npz", preview=f"{stem}.preview.mp4", report=f"{stem}.report.json")
        print(f"{video.name}: {report['valid_frames']}/{report['frames']} frames fitted, NME {report['nme']:.4f}, "
              f"{report['frames_per_second']['total']:.0f} frames/s -> {stem}.track.npz, {stem}.preview.mp4")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dvp", description="Deep Video Portraits: reenactment and dubbing of real video.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_track(sub)
    _add_render(sub)
    _add_demo(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        return {"track": _run_track, "render": _run_render, "demo": _run_demo}[args.command](args)
    except DvpError as exc:
        print(f"dvp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dvp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
