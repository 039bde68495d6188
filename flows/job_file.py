"""A shot's job file: what a render farm is asked to do with one shot, in YAML.

    version: 1
    target: plates/sc12_t3.mov          # the shot
    job: dub                            # reenact | edit | dub
    audio: dub/sc12_t3_de.wav           # dub: the dialogue (or driver: a dubbing actor's video)
    output: out/sc12_t3_de.mov
    model: models/actor_a               # optional: without it the shot's own model is trained first
    train: {preset: cpu, minutes: 30, mouth_minutes: 10}
    options: {loudness: -23, music_effects: me/sc12_t3.wav, verify: true}

Paths are relative to the job file's folder. `source` (reenact) and `edits`
(edit) name the other jobs' inputs. Options are those of the job's command, in
their Python spelling (`keep_length`, `same_language`, `stems`, `loudness`,
`music_effects`, `verify`, `preview`, `eyes`, `mouth`, `retrieval`, the marks'
`visible_mark`, `mark_text`, `mark_corner`, `mark_size`, `mark_opacity`,
`signing_key`, `signing_cert`, ...).
Mistakes are reported with the file's name and the key at fault, before any work.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from base.errors import DvpError

KINDS = {"reenact": "source", "edit": "edits", "dub": "audio"}
KEYS = {"version", "target", "job", "output", "model", "train", "options", "source", "edits", "audio", "driver"}
TRAIN_KEYS = {"preset", "minutes", "steps", "mouth_minutes", "eyes_minutes", "device"}
FILE_OPTIONS = ("music_effects", "preview", "signing_key", "signing_cert")


@dataclass(frozen=True)
class ShotJob:
    file: Path
    target: Path
    kind: str
    output: Path
    model: Path | None = None
    train: dict = field(default_factory=dict)
    source: Path | None = None
    edits: Path | None = None
    audio: Path | None = None
    driver: Path | None = None
    options: dict = field(default_factory=dict)

    def inputs(self) -> dict[str, Path]:
        found = {"target": self.target, "model": self.model, "source": self.source, "edits": self.edits,
                 "audio": self.audio, "driver": self.driver, "music_effects": self.options.get("music_effects")}
        return {role: Path(p) for role, p in found.items() if p is not None}


def load_job(path: str | os.PathLike) -> ShotJob:
    """Read and check a job file (see the module notes)."""
    path = Path(path)
    if not path.is_file():
        raise DvpError(f"job file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DvpError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise DvpError(f"{path}: a job file is a mapping of keys (target, job, output, ...)")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise DvpError(f"{path}: unknown key {', '.join(unknown)}; a job file takes {', '.join(sorted(KEYS))}")
    if data.get("version") != 1:
        raise DvpError(f"{path}: give `version: 1` (the job file format this dvp reads)")
    for key in ("target", "job", "output"):
        if not data.get(key):
            raise DvpError(f"{path}: `{key}` is missing")
    kind = data["job"]
    if kind not in KINDS:
        raise DvpError(f"{path}: job `{kind}` is not one of {', '.join(KINDS)}")
    if kind == "dub" and not (data.get("audio") or data.get("driver")):
        raise DvpError(f"{path}: a dub needs `audio` (the dialogue) or `driver` (a dubbing actor's video)")
    if kind != "dub" and not data.get(KINDS[kind]):
        raise DvpError(f"{path}: a {kind} job needs `{KINDS[kind]}`")
    train = data.get("train") or {}
    if not isinstance(train, dict) or set(train) - TRAIN_KEYS:
        raise DvpError(f"{path}: `train` takes {', '.join(sorted(TRAIN_KEYS))}")
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise DvpError(f"{path}: `options` is a mapping of the job's options")
    folder = path.parent

    def here(value):
        return (folder / value).resolve() if value else None

    options = {k: str(here(v)) if k in FILE_OPTIONS and v else v for k, v in options.items()}
    job = ShotJob(path, here(data["target"]), kind, here(data["output"]), here(data.get("model")), train,
                  here(data.get("source")), here(data.get("edits")), here(data.get("audio")), here(data.get("driver")),
                  options)
    for role, p in job.inputs().items():
        if not p.exists():
            raise DvpError(f"{path}: the {role.replace('_', ' ')} {p} does not exist")
    return job
