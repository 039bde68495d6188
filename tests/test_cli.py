"""The command line's one vocabulary, its JSON summaries, and the earlier release's spellings (with a warning)."""
import json

import pytest

from pipeline import cli
from pipeline.cli import main

MARKS = ["--no-visible-mark", "--mark-text", "--mark-corner", "--mark-size", "--mark-opacity", "--signing-key",
         "--signing-cert", "--job-id"]
VOCABULARY = {  # command: options it must offer, meaning the same thing everywhere
    "track": ["-o", "--report", "--face", "--quiet"],
    "render": ["-o", "--report", "--track", "--quiet"],
    "train": ["-o", "--report", "--track", "--face", "--device", "--quiet"],
    "evaluate": ["-o", "--report", "--model", "--device", "--quiet"],
    "reenact": ["-o", "--report", "--track", "--face", "--source-face", "--device", "--quiet", *MARKS],
    "edit": ["-o", "--report", "--track", "--face", "--device", "--quiet", *MARKS],
    "dub": ["-o", "--report", "--track", "--face", "--model", "--audio", "--device", "--quiet", *MARKS],
    "demo": ["-o", "--report", "--device", "--quiet"],
    "train-audio": ["-o", "--report", "--quiet"],
    "sync-check": ["--report", "--track", "--quiet"],
    "animate": ["-o", "--report", "--audio", "--quiet", *MARKS],
    "drivers": ["add", "list", "remove"],
    "verify": ["--manifest", "--report", "--quiet"],
    "signing-pair": ["--name"],
}


@pytest.mark.parametrize("command", sorted(VOCABULARY))
def test_every_command_speaks_the_one_vocabulary(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    usage = capsys.readouterr().out
    missing = [option for option in VOCABULARY[command] if option not in usage]
    assert not missing, f"dvp {command} lacks {missing}"


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("dvp 0.")


def test_train_lists_every_preset(capsys):
    from translation.config import PRESETS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    usage = capsys.readouterr().out
    assert all(name in usage for name in PRESETS), "gpu among them"


@pytest.fixture
def called(monkeypatch):
    """The stage functions the CLI calls, replaced by recorders: what the CLI parsed, without running the work."""
    calls = {}

    def recorder(name, result):
        def record(*args, **kwargs):
            calls[name] = (args, kwargs)
            return result
        return record

    import pipeline.editing
    import pipeline.evaluation
    import pipeline.reenactment
    import pipeline.render_preview

    job_result = {"output": "o.mp4", "frames": 3}
    monkeypatch.setattr(pipeline.reenactment, "reenact", recorder("reenact", job_result))
    monkeypatch.setattr(pipeline.editing, "edit", recorder("edit", job_result))
    monkeypatch.setattr(pipeline.render_preview, "render_video", recorder("render", {"frames": 3}))
    methods = {name: {"psnr_face": 20.0, "ssim_face": 0.5, "psnr_head": 20.0, "psnr_mouth": 20.0, "ssim_mouth": 0.5,
                      "flicker": 1.0, "flicker_head": 1.5, "flicker_mouth": 2.0,
                      "sharpness": 0.9, "checkerboard": 0.1,
                      "kind": "static window"} for name in ("model", "nearest_neighbour", "window_1")}
    monkeypatch.setattr(pipeline.evaluation, "evaluate", recorder("evaluate", {
        "held_out_frames": [10, 19, 10], "video": "v.mp4", "step": 5, "size": 128, "preview": "p.mp4",
        "methods": methods}))
    return calls


def test_the_earlier_spellings_still_work_with_a_warning(called, capsys):
    assert main(["reenact", "--target", "t.mp4", "--source", "s.mp4", "--model", "m", "-o", "o.mp4",
                 "--target-track", "t.npz"]) == 0
    args, _ = called["reenact"]
    assert args[:4] == ("s.mp4", "t.mp4", "m", "o.mp4") and args[-1].track == "t.npz"
    err = capsys.readouterr().err
    assert "--target is deprecated" in err and "--target-track is deprecated" in err

    assert main(["render", "t.npz", "--video", "v.mp4", "-o", "p.mp4"]) == 0
    assert called["render"][0][:3] == ("t.npz", "v.mp4", "p.mp4")
    assert "--video is deprecated" in capsys.readouterr().err

    assert main(["evaluate", "model", "--video", "v.mp4", "--preview", "p.mp4"]) == 0
    args, kwargs = called["evaluate"]
    assert args == ("model", "v.mp4") and kwargs["preview"] == "p.mp4"
    assert "--preview is deprecated" in capsys.readouterr().err


def test_the_new_spellings_parse_to_the_same_calls_without_warnings(called, capsys):
    assert main(["reenact", "t.mp4", "--source", "s.mp4", "--model", "m", "-o", "o.mp4", "--track", "t.npz",
                 "--face", "1"]) == 0
    args, _ = called["reenact"]
    assert args[:4] == ("s.mp4", "t.mp4", "m", "o.mp4") and (args[-1].track, args[-1].face) == ("t.npz", 1)
    assert main(["render", "v.mp4", "--track", "t.npz", "-o", "p.mp4"]) == 0
    assert called["render"][0][:3] == ("t.npz", "v.mp4", "p.mp4")
    assert main(["evaluate", "v.mp4", "--model", "model", "-o", "p.mp4"]) == 0
    assert called["evaluate"][0] == ("model", "v.mp4") and called["evaluate"][1]["preview"] == "p.mp4"
    assert "deprecated" not in capsys.readouterr().err


def test_every_command_prints_one_json_line_and_tables_on_stderr(called, capsys):
    assert main(["evaluate", "v.mp4", "--model", "model"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and json.loads(out)["methods"]["model"]["psnr_face"] == 20.0
    assert "| nearest_neighbour |" in err and "| nearest_neighbour |" not in out
    assert main(["edit", "t.mp4", "--edits", "e.yaml", "-o", "o.mp4"]) == 0
    assert json.loads(capsys.readouterr().out) == {"output": "o.mp4", "frames": 3}


def test_a_target_given_twice_or_not_at_all_is_refused(called, capsys):
    assert main(["reenact", "t.mp4", "--target", "t.mp4", "--source", "s.mp4", "--model", "m", "-o", "o.mp4"]) == 2
    assert main(["reenact", "--source", "s.mp4", "--model", "m", "-o", "o.mp4"]) == 2
    assert "give the target video once" in capsys.readouterr().err
    assert main(["render", "v.mp4", "-o", "p.mp4"]) == 2
    assert "--track" in capsys.readouterr().err
    assert "reenact" not in called and "render" not in called
    assert cli.COMMANDS.keys() == VOCABULARY.keys(), "every command is checked above"


def test_a_face_choice_with_a_given_track_is_refused_before_any_work(tmp_path, capsys):
    for name in ("t.mp4", "e.yaml", "t.npz"):
        (tmp_path / name).write_bytes(b"")  # never read: the refusal comes first
    t, spec, track = (str(tmp_path / name) for name in ("t.mp4", "e.yaml", "t.npz"))
    assert main(["edit", t, "--edits", spec, "-o", str(tmp_path / "o.mp4"), "--track", track, "--face", "1"]) == 2
    assert main(["train", t, "-o", str(tmp_path / "m"), "--track", track, "--face", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("--face picks a face when") == 2
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "m").exists()
