"""The main job (`dvp demo`) end to end on the generated clips, with a short training budget."""
import json

from base.probe import probe
from pipeline.demo import run_demo


def test_demo_runs_the_whole_job(tmp_path):
    said = []
    summary = run_demo(tmp_path, minutes=0.1, footage=None, show_progress=False, say=said.append)
    assert said == summary["lines"] and len(said) == 8, "one line per step, as each finishes"
    assert said[0].startswith("animated_hello.mp4") and said[1].startswith("speaking.mp4"), "the photo comes first"
    for name in ("animated_hello.mp4", "speaking.mp4",
                 "target.track.npz", "model/checkpoint.pt", "model/loss_curve.png", "model/evaluation.mp4",
                 "model/eyes/checkpoint.pt",
                 "evaluation.json", "reenacted_by_driver.mp4", "reenacted_by_driver.preview.mp4", "edited.mp4"):
        assert (tmp_path / name).is_file(), name
    assert probe(tmp_path / "reenacted_by_driver.mp4").frame_count == 100, "as long as the driver"
    assert probe(tmp_path / "edited.mp4").frame_count == 150, "as long as the target"
    edited = json.loads((tmp_path / "edited.json").read_text())
    assert edited["edited_frames"] == 71 and edited["passed_through_frames"] == 150 - 71
    reenacted = json.loads((tmp_path / "reenacted_by_driver.json").read_text())
    verified = reenacted["faithfulness"]
    assert verified["frames"] + verified["frames_without_face"] == 100, "every output frame scored or counted"
    assert reenacted["eye_pathway_step"] >= 1, "the main job uses the eye pathway it trained"
    assert summary["trained"]["step"] >= 1 and summary["edited"]["output"] == str(tmp_path / "edited.mp4")
