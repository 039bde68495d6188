"""The Prefect flows: a job file run end to end on a real short clip, and run again from its work folder."""
import json
import time
from pathlib import Path

import pytest
import yaml

from base.errors import DvpError
from base.probe import probe
from flows.content import file_digest, stage_key
from flows.job_file import load_job


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def write_job(folder, **fields):
    path = folder / "shot.yaml"
    path.write_text(yaml.safe_dump({"version": 1, **fields}))
    return path


def test_content_keys_follow_bytes_not_names(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "renamed.bin"
    a.write_bytes(b"frames")
    b.write_bytes(b"frames")
    assert file_digest(a) == file_digest(b)
    assert stage_key("track", {"video": a}, {}) == stage_key("track", {"video": b}, {})
    assert stage_key("track", {"video": a}, {"face": 1}) != stage_key("track", {"video": a}, {})
    b.write_bytes(b"other frames")
    assert stage_key("track", {"video": a}, {}) != stage_key("track", {"video": b}, {})


def test_job_file_mistakes_name_the_file_and_the_key(tmp_path, astro):
    video, _ = astro
    cases = [({"target": str(video), "job": "dance", "output": "o.mov"}, "job `dance` is not one of"),
             ({"target": str(video), "job": "dub", "output": "o.mov"}, "a dub needs `audio`"),
             ({"target": "missing.mov", "job": "edit", "edits": str(video), "output": "o.mov"}, "does not exist"),
             ({"target": str(video), "job": "edit", "edits": str(video), "output": "o.mov", "colour": 1},
              "unknown key colour")]
    for fields, message in cases:
        with pytest.raises(DvpError, match=message) as error:
            load_job(write_job(tmp_path, **fields))
        assert "shot.yaml" in str(error.value)


REAL_CLIP = "lp_d0.mp4"  # 78 frames of real footage
SMILE = "version: 1\nedits:\n  - frames: [10, 60]\n    ease: 5\n    expression: {smile: 0.6}\n"


def test_a_shot_flow_tracks_trains_edits_and_a_second_run_is_served_from_its_work_folder(harness, footage, tmp_path):
    from flows.shot import shot_flow

    video = footage / REAL_CLIP
    (tmp_path / "smile.yaml").write_text(SMILE)
    job = write_job(tmp_path, target=str(video), job="edit", edits="smile.yaml", output="out/edited.mov",
                    train={"preset": "tiny", "steps": 30}, options={"verify": False})
    began = time.perf_counter()
    first = shot_flow(str(job), segment_frames=32)
    took = time.perf_counter() - began
    output = tmp_path / "out" / "edited.mov"
    assert first["output"] == str(output) and probe(output).frame_count == 78
    assert json.loads(output.with_suffix(".json").read_text())["edited_frames"] > 0
    work = tmp_path / "shot.work"
    assert len(list(work.glob("track-*.track.npz"))) == 1 and len(list(work.glob("train-*"))) == 1
    assert len(list(work.glob("plan-*"))) == 1 and len(list(work.glob("segment-*.mov"))) == 3, "made in segments"
    began = time.perf_counter()
    second = shot_flow(str(job), segment_frames=32)
    again = time.perf_counter() - began
    assert second == first
    assert again < took / 3, f"the second run took {again:.1f} s against {took:.1f} s"
    # Another work folder gets its own artifacts, run once or twice: Prefect's records never lend it the first's.
    for _ in range(2):
        elsewhere = shot_flow(str(job), str(tmp_path / "elsewhere"), segment_frames=32)
        assert Path(elsewhere["track"]).parent == tmp_path / "elsewhere" and Path(elsewhere["track"]).is_file()
    assert not list(tmp_path.rglob(".dvp-tmp-*"))
    messages = prefect_log_messages()
    assert any(m.startswith("landmarks: ") and "frames/s" in m for m in messages), "progress reached Prefect's logs"


def prefect_log_messages() -> list[str]:
    """Every log line of the test server's runs (its text search fails on SQLite)."""
    from prefect.client.orchestration import get_client

    messages = []
    with get_client(sync_client=True) as client:
        while page := client.read_logs(limit=200, offset=len(messages)):
            messages += [entry.message for entry in page]
    return messages


def test_progress_is_logged_while_a_stage_runs_not_only_at_its_end(monkeypatch, caplog):
    import logging

    from base import progress

    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="dvp"):
        assert list(progress.progress(range(4), 4, "fitting", enabled=False)) == [0, 1, 2, 3]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("fitting: 1/4 frames (25 %)") and "left" in lines[0]
    assert lines[-1].startswith("fitting: 4 frames in")


def test_dvp_farm_run_refuses_a_bad_job_file_before_prefect_starts(tmp_path, capsys):
    from flows.cli import main

    job = write_job(tmp_path, target="nowhere.mov", job="dub", audio="a.wav", output="o.mov")
    assert main(["farm", "run", str(job)]) == 2
    assert "shot.yaml: the target" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:  # the pipeline's own commands stay reachable through it
        main(["track", "--help"])
    assert done.value.code == 0 and "dvp track" in capsys.readouterr().out


def test_the_shot_flow_on_two_dask_workers_gives_the_same_track_and_frames(harness, footage, tmp_path):
    import numpy as np

    from base.reading import VideoReader
    from flows.shot import run_shot

    video = footage / REAL_CLIP
    (tmp_path / "smile.yaml").write_text(SMILE)
    results = {}
    for name in ("threads", "dask"):
        job = write_job(tmp_path, target=str(video), job="edit", edits="smile.yaml", output=f"out/{name}.mov",
                        train={"preset": "tiny", "steps": 20}, options={"verify": False})
        if name == "threads":
            results[name] = run_shot(str(job), str(tmp_path / f"{name}.work"), segment_frames=32)
        else:  # `dvp farm run --workers 2` in a process of its own: its cluster's helpers end with it
            report = tmp_path / "dask.json"
            finished = farm_run(job, "--work", tmp_path / "dask.work", "--workers", "2", "--report", report,
                                "--segment-frames", "32")
            assert finished.wait(timeout=600) == 0
            results[name] = json.loads(report.read_text())
    tracks = [Path(results[name]["track"]).read_bytes() for name in ("threads", "dask")]
    assert tracks[0] == tracks[1], "the same track, byte for byte"
    frames = [list(VideoReader(results[name]["output"])) for name in ("threads", "dask")]
    assert len(frames[0]) == len(frames[1]) == 78
    assert all(np.array_equal(a, b) for a, b in zip(*frames, strict=True)), "the same frames"


def farm_run(job, *args, own_server=False):
    """`dvp farm run JOB ARGS` in a process of its own session (see `farm`)."""
    return farm("run", job, *args, own_server=own_server)


def farm(*args, own_server=False):
    """`dvp farm ARGS` in a process of its own session, against the test's Prefect server, or with
    `own_server` against a temporary one it starts itself (on the test server's database)."""
    import os
    import subprocess
    import sys

    from prefect.settings import get_current_settings

    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True)}
    if own_server:
        env.pop("PREFECT_API_URL", None)
    command = f"from flows.cli import main; main(['farm', *{[str(a) for a in args]!r}])"
    return subprocess.Popen([sys.executable, "-c", command], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_shot_flow_killed_mid_training_resumes_from_its_finished_tasks(harness, astro, tmp_path):
    import os
    import signal
    import subprocess

    from flows.shot import shot_flow
    from reconstruction.track import load_track

    video, _ = astro
    job = write_job(tmp_path, target=str(video), job="edit", edits=str(tmp_path / "smile.yaml"),
                    output="out/edited.mov", train={"preset": "tiny", "steps": 400}, options={"verify": False})
    (tmp_path / "smile.yaml").write_text("version: 1\nedits:\n  - frames: [5, 30]\n    expression: {smile: 0.6}\n")
    run = farm_run(job, own_server=True)
    work = tmp_path / "shot.work"
    deadline = time.monotonic() + 300
    while not list(work.glob("train-*/checkpoint.pt")):
        assert run.poll() is None and time.monotonic() < deadline, "the flow ended before training checkpointed"
        time.sleep(0.2)
    os.kill(run.pid, signal.SIGKILL)  # the command's process alone, as an out-of-memory kill would
    run.wait()
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-g", str(run.pid)], capture_output=True).stdout:
        assert time.monotonic() < deadline, "the temporary Prefect server (or another child) outlived the command"
        time.sleep(0.2)
    assert not list(tmp_path.rglob(".dvp-tmp-*")) and not (tmp_path / "out").exists()
    killed = json.loads((work / ".flow-run.json").read_text())["run"]
    [track] = work.glob("track-*.track.npz")
    load_track(track)  # complete
    made = track.stat().st_mtime_ns
    result = shot_flow(str(job))
    assert track.stat().st_mtime_ns == made, "the finished track was not made again"
    history = json.loads(next(work.glob("train-*/history.json")).read_text())["train"]
    steps = [entry["step"] for entry in history]
    assert steps == sorted(set(steps)) and steps[-1] == 400, "training carried on from its checkpoint to the end"
    assert probe(result["output"]).frame_count == 40
    assert run_state(killed) == "CRASHED", "the killed run, left Running, was marked Crashed by the next"
    assert not (work / ".flow-run.json").exists()


def run_state(run_id: str) -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state.type.value


def test_a_job_file_is_taken_only_once_fully_written(tmp_path, monkeypatch):
    from flows import inbox

    monkeypatch.setattr(inbox, "SETTLE_S", 1.0)
    job = tmp_path / "shot.yaml"
    job.write_text("version: 1\n")
    seen = {}
    assert inbox.settled(tmp_path, seen, now=0.0) == [], "first seen: it may still be being written"
    job.write_text("version: 1\ntarget: a.mov\n")  # still growing
    assert inbox.settled(tmp_path, seen, now=1.5) == []
    assert inbox.settled(tmp_path, seen, now=2.0) == []
    assert inbox.settled(tmp_path, seen, now=2.6) == [job], "unchanged for a second: taken"
    working = inbox.claim(job)
    assert working.name == ".shot.yaml.working" and inbox.claim(job) is None, "claimed once"
    assert inbox.settled(tmp_path, seen, now=9.0) == []


def test_the_watch_folder_files_jobs_as_done_or_failed_with_a_reason(harness, astro, tmp_path, monkeypatch):
    from flows import inbox
    from flows.shot import run_shot

    monkeypatch.setattr(inbox, "SETTLE_S", 0.1)
    video, _ = astro
    box = tmp_path / "inbox"
    box.mkdir()
    (box / "smile.yaml.txt").write_text("version: 1\nedits:\n  - frames: [5, 30]\n    expression: {smile: 0.6}\n")
    (box / "good.yaml").write_text(yaml.safe_dump({
        "version": 1, "target": str(video), "job": "edit", "edits": "smile.yaml.txt", "output": "out/good.mov",
        "train": {"preset": "tiny", "steps": 20}, "options": {"verify": False}}))
    (box / "bad.yaml").write_text(yaml.safe_dump({"version": 1, "target": str(video), "job": "edit",
                                                  "edits": "nowhere.yaml", "output": "out/bad.mov"}))
    counts = inbox.watch(box, run_shot, once=True, poll=0.05)
    assert counts == {"done": 1, "failed": 1}
    assert (box / "done" / "good.yaml").is_file() and (box / "out" / "good.mov").is_file()
    assert json.loads((box / "done" / "good.result.json").read_text())["output"] == str(box / "out" / "good.mov")
    assert (box / "failed" / "bad.yaml").is_file()
    reason = (box / "failed" / "bad.reason.txt").read_text()
    assert "bad.yaml: the edits" in reason and "nowhere.yaml does not exist" in reason
    assert not list(box.glob("*.yaml")) and not list(box.glob(".*.working"))


def test_the_farm_deployments_are_every_flow_and_a_scheduled_inbox(tmp_path):
    from flows.serving import deployments

    made = deployments(tmp_path, every=90)
    names = {d.flow_name for d in made}
    assert names == {"shot", "track", "train", "evaluate", "reenact", "edit", "dub", "animate", "inbox"}
    assert all(d.name == "farm" for d in made)
    [inbox] = [d for d in made if d.flow_name == "inbox"]
    assert inbox.parameters["inbox"] == str(tmp_path.resolve())
    assert inbox.schedules[0].schedule.interval.total_seconds() == 90
    assert not any(d.schedules for d in made if d.flow_name != "inbox"), "the other flows run on demand"


def test_dvp_farm_serve_runs_a_shot_asked_for_through_the_api(harness, astro, tmp_path):
    import os
    import signal

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    video, _ = astro
    (tmp_path / "smile.yaml").write_text("version: 1\nedits:\n  - frames: [5, 30]\n    expression: {smile: 0.6}\n")
    job = write_job(tmp_path, target=str(video), job="edit", edits="smile.yaml", output="out/served.mov",
                    train={"preset": "tiny", "steps": 20}, options={"verify": False})
    serving = farm("serve")
    try:
        deadline = time.monotonic() + 180
        with get_client(sync_client=True) as client:
            while True:
                assert serving.poll() is None and time.monotonic() < deadline, "dvp farm serve did not come up"
                try:
                    client.read_deployment_by_name("shot/farm")
                    break
                except Exception:
                    time.sleep(1)
        run = run_deployment("shot/farm", parameters={"job_file": str(job)}, timeout=600)
        assert run.state.is_completed(), run.state
        assert probe(tmp_path / "out" / "served.mov").frame_count == 40
    finally:
        os.killpg(serving.pid, signal.SIGTERM)
        serving.wait(timeout=60)


def test_dvp_farm_serve_asks_for_a_server_of_its_own(monkeypatch, capsys):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import main

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert main(["farm", "serve"]) == 2
    assert "prefect server start" in capsys.readouterr().err


def test_gpu_tasks_go_only_to_the_workers_that_have_a_gpu(harness):
    from distributed import Scheduler, SpecCluster, Worker, get_worker
    from prefect import flow, task
    from prefect_dask import DaskTaskRunner

    from flows.shot import on_gpu

    @task
    def where(_: int) -> str:
        return get_worker().name

    @flow
    def spread(gpu: bool) -> list[str]:
        with on_gpu(gpu):
            return [f.result() for f in where.map(list(range(6)))]

    workers = {"gpu": {"cls": Worker, "options": {"nthreads": 1, "resources": {"GPU": 1}, "name": "gpu"}},
               "cpu": {"cls": Worker, "options": {"nthreads": 1, "name": "cpu"}}}
    with SpecCluster(workers=workers, scheduler={"cls": Scheduler, "options": {"dashboard_address": None}}) as cluster:
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        assert set(spread.with_options(task_runner=runner)(True)) == {"gpu"}


def test_the_served_farm_has_the_automation_that_crashes_silent_runs_once(harness):
    from prefect.client.orchestration import get_client

    from flows.runs import AUTOMATION, crash_silent_runs

    assert crash_silent_runs() == crash_silent_runs() == AUTOMATION
    with get_client(sync_client=True) as client:
        [automation] = client.read_automations_by_name(AUTOMATION)
    assert automation.actions[0].state.value == "CRASHED" and automation.trigger.posture.value == "Proactive"


def test_the_animate_flow_animates_a_photo_and_serves_it_again_from_its_work_folder(harness, tmp_path):
    import cv2
    from skimage.data import astronaut

    from flows.shot import animate_flow

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    made = animate_flow(str(photo), str(tmp_path / "out" / "nod.mp4"), str(tmp_path / "work"), ["nod"])
    report = json.loads(Path(made).with_suffix(".json").read_text())
    assert probe(made).frame_count == 75 and report["faithfulness"][0]["pose_error_deg"] <= 3.0
    [artifact] = (tmp_path / "work").glob("animate-*.mp4")
    stamp = artifact.stat().st_mtime_ns
    assert animate_flow(str(photo), str(tmp_path / "out" / "nod.mp4"), str(tmp_path / "work"), ["nod"]) == made
    assert artifact.stat().st_mtime_ns == stamp, "served from the work folder"
