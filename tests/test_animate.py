"""`dvp animate` and `dvp drivers`: a still portrait moved by drivers and by speech, with no trained network."""
import json

import cv2
import numpy as np
import pytest

from base.errors import DvpError, NoFaceError
from base.probe import probe, probe_audio
from pipeline.animation import AnimateOptions, animate
from pipeline.drivers import BUILT_IN, built_in


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage.data import astronaut

    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture
def library(tmp_path, monkeypatch):
    monkeypatch.setenv("DVP_DRIVERS", str(tmp_path / "drivers"))
    return tmp_path / "drivers"


def quiet(**kw):
    return AnimateOptions(show_progress=False, **kw)


@pytest.mark.parametrize("driver", ["shake", "nod"])
def test_the_astronaut_turns_as_the_driver_asks(photo, tmp_path, driver):
    report = animate(photo, tmp_path / "out.mp4", [driver], options=quiet(verify=True))
    [score] = report["faithfulness"]
    assert report["frames"] == len(built_in(driver)) and probe(tmp_path / "out.mp4").frame_count == report["frames"]
    assert score["frames_without_face"] == 0 and score["largest_turn_asked_deg"] >= 9
    assert score["pose_error_deg"] <= 3.0, score


def test_every_built_in_driver_makes_a_video(photo, tmp_path):
    for name in BUILT_IN:
        report = animate(photo, tmp_path / f"{name}.mp4", [name], options=quiet(seconds=0.4))
        assert report["frames"] == 10 and (tmp_path / f"{name}.mp4").is_file()


def test_a_grayscale_photo_stays_grey(photo, tmp_path):
    grey = tmp_path / "grey.jpg"
    cv2.imwrite(str(grey), cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2GRAY))
    animate(grey, tmp_path / "grey.mp4", ["hello"], options=quiet(seconds=1.2))
    from base.reading import VideoReader

    frame = list(VideoReader(tmp_path / "grey.mp4"))[25].astype(int)  # the mouth open, its interior painted
    assert np.abs(frame - frame.mean(-1, keepdims=True)).max() <= 6, "no colour appears"


def test_bad_photos_and_drivers_are_refused_clearly(photo, tmp_path, library):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 400, 3), 128, np.uint8))
    with pytest.raises(NoFaceError, match="no face was found in wall.png"):
        animate(blank, tmp_path / "o.mp4", ["nod"], options=quiet())
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), cv2.resize(cv2.imread(str(photo)), (48, 48), interpolation=cv2.INTER_AREA))
    with pytest.raises(NoFaceError, match=r"tiny.png is 48x48: .*too small.*at least about 24 pixels"):
        animate(tiny, tmp_path / "o.mp4", ["nod"], options=quiet())
    with pytest.raises(DvpError, match="no driver 'moonwalk'; the built-in drivers are nod, shake"):
        animate(photo, tmp_path / "o.mp4", ["moonwalk"], options=quiet())
    with pytest.raises(DvpError, match="one of the two"):
        animate(photo, tmp_path / "o.mp4", ["nod"], audio=tmp_path / "a.wav", options=quiet())
    with pytest.raises(DvpError, match="1 faces and 2 drivers"):
        animate(photo, tmp_path / "o.mp4", ["nod", "shake"], options=quiet())
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".dvp-tmp-*"))


def test_two_faces_in_one_picture_follow_two_drivers(photo, tmp_path):
    face = cv2.imread(str(photo))[0:300, 80:380]
    pair = tmp_path / "pair.png"
    cv2.imwrite(str(pair), np.concatenate([face, face[:, ::-1]], 1))
    report = animate(pair, tmp_path / "pair.mp4", ["nod", "shake"], options=quiet(verify=True))
    assert report["faces"] == 2 and report["drivers"] == ["nod", "shake"]
    for score in report["faithfulness"]:
        assert score["frames_without_face"] <= 2 and score["pose_error_deg"] <= 3.0, score


def test_the_astronaut_speaks_in_sync(photo, footage, tmp_path):
    from pipeline.sync_check import sync_check

    report = animate(photo, tmp_path / "talk.mp4", audio=footage / "dub_en.wav", options=quiet())
    assert probe_audio(tmp_path / "talk.mp4") and report["frames"] == 125
    reading = sync_check(tmp_path / "talk.mp4", show_progress=False)
    assert reading["verdict"] == "in sync" and abs(reading["offset_frames"]) <= 1, reading


def test_the_driver_library_adds_lists_and_removes(photo, footage, tmp_path, library, capsys):
    from flows.cli import main

    assert main(["drivers", "add", "lp_d0", str(footage / "lp_d0.mp4"), "-q"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["frames"] == 78 and (library / "lp_d0.npz").is_file()
    assert main(["drivers", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)["drivers"]
    assert [d["name"] for d in listed] == [*BUILT_IN, "lp_d0"]
    assert main(["animate", str(photo), "--driver", "lp_d0", "-o", str(tmp_path / "o.mp4"), "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 78
    assert main(["drivers", "remove", "lp_d0"]) == 0 and not (library / "lp_d0.npz").exists()
    assert main(["drivers", "remove", "lp_d0"]) == 2
    assert "no driver 'lp_d0'" in capsys.readouterr().err
    assert main(["drivers", "remove", "nod"]) == 2
    assert "built-in" in capsys.readouterr().err
