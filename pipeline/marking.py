"""What makes every output recognisable as made by dvp, and checkable later: a visible label, an invisible
watermark carrying the job's identifier and dvp's version (`pipeline.watermark`), and a signed C2PA manifest
saying what was changed, from which inputs, over which frames (`pipeline.provenance`).

A job decides its `Provenance` before its first frame: its identifier (a hash of its inputs and settings, so
the same job on the same inputs, whether made in one pass or in segments on several machines, carries the same
identifier and the same pixels), the ingredients, the actions. Synthesis writes through `marked`, which labels
and watermarks each frame on its way to the encoder; `Provenance.seal` signs the finished output.

The label can be left out (`MarkOptions.visible`), which the manifest records; the watermark and the manifest
cannot.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from base.errors import DvpError
from pipeline.label import Label, LabelStamp
from pipeline.provenance import Claim, Signing, default_signing, file_sha256, pictures_hash, sign_output
from pipeline.watermark import Marker, Payload

log = logging.getLogger("dvp")

# What each kind of job did to the pictures, for the manifest's actions ({name}: the drive's name).
CHANGES = {
    "reenact": "the target's head pose, expression, gaze and blinks made to follow {name}",
    "edit": "the target's performance changed as {name} asks",
    "dub": "the target's mouth made to speak {name}",
    "animate": "the photo {name} animated",
}
# a job file's option names (see `MarkOptions.of_settings`), and the `Label` fields they set
SETTINGS = {"visible_mark": None, "mark_text": "text", "mark_corner": "corner", "mark_size": "size",
            "mark_opacity": "opacity", "signing_key": None, "signing_cert": None, "job_id": None}
MAX_ACTIONS = 32  # frame ranges listed one by one; more are merged into one covering range


@dataclass
class MarkOptions:
    """How outputs are marked and signed. Every field has a default that runs: labelled, watermarked, signed with
    the configured pair or, when none is, a local test pair."""

    visible: bool = True  # the visible label; leaving it out is recorded in the manifest
    label: Label = field(default_factory=Label)
    signing_key: Path | None = None  # PEM private key (default: DVP_SIGNING_KEY, else the local test pair)
    signing_cert: Path | None = None  # its PEM certificate chain, leaf first
    job_id: str | None = None  # 8 hex digits to carry instead of the hash of the job (a studio's own numbering)

    def check(self) -> None:
        """Refuse what cannot be met, before any work."""
        if self.visible:
            self.label.check()
        if self.job_id is not None and not re.fullmatch(r"[0-9a-fA-F]{8}", self.job_id):
            raise DvpError(f"--job-id {self.job_id!r}: give 8 hexadecimal digits (the watermark carries 32 bits), "
                           "e.g. 0012ab9f")
        if (self.signing_key is None) != (self.signing_cert is None):
            raise DvpError("give --signing-key and --signing-cert together (the PEM private key and its certificate "
                           "chain), or neither to sign with DVP_SIGNING_KEY/DVP_SIGNING_CERT or the local test pair")
        for what, path in (("--signing-key", self.signing_key), ("--signing-cert", self.signing_cert)):
            if path is not None and not Path(path).is_file():
                raise DvpError(f"{what} {path} does not exist; make a local test pair with `dvp signing-pair FOLDER`")

    @classmethod
    def of_settings(cls, settings: dict) -> MarkOptions:
        """From a job file's options (`visible_mark`, `mark_text`, `mark_corner`, `mark_size`, `mark_opacity`,
        `signing_key`, `signing_cert`), which are taken out of `settings`."""
        given = {key: settings.pop(key) for key in list(settings) if key in SETTINGS}
        label = Label(**{SETTINGS[k]: v for k, v in given.items() if k.startswith("mark_")})
        key, cert = given.get("signing_key"), given.get("signing_cert")
        return cls(visible=bool(given.get("visible_mark", True)), label=label,
                   signing_key=Path(key) if key else None, signing_cert=Path(cert) if cert else None,
                   job_id=str(given["job_id"]) if given.get("job_id") is not None else None)

    def signing(self) -> Signing:
        if self.signing_key is not None and self.signing_cert is not None:
            return Signing(Path(self.signing_key), Path(self.signing_cert))
        return default_signing()


@dataclass(frozen=True)
class Marks:
    """What goes into every frame of one job's output."""

    job_id: str  # 8 hex digits
    version: str  # dvp's
    label: Label | None  # None: no visible label

    def stamper(self, width: int, height: int) -> Stamper:
        return Stamper(self, width, height)


class Stamper:
    """Labels and watermarks frames of one size."""

    def __init__(self, marks: Marks, width: int, height: int) -> None:
        self.label = LabelStamp(marks.label, width, height) if marks.label is not None else None
        self.marker = Marker(Payload.of(marks.job_id, marks.version), width, height)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        marked = self.marker.mark(frame)  # a new array: the label is blended into it in place
        return self.label.stamp(marked) if self.label is not None else marked


class MarkedWriter:
    """A frame writer whose frames are labelled and watermarked on their way in; otherwise the writer it wraps."""

    def __init__(self, writer, marks: Marks) -> None:
        self._writer, self._marks = writer, marks
        self._stampers: dict[tuple[int, int], Stamper] = {}
        self.marking_seconds = 0.0  # spent labelling and watermarking

    def write(self, frame: np.ndarray) -> None:
        started = time.perf_counter()
        size = (frame.shape[1], frame.shape[0])
        if size not in self._stampers:
            self._stampers[size] = self._marks.stamper(*size)
        frame = self._stampers[size](frame)
        self.marking_seconds += time.perf_counter() - started
        self._writer.write(frame)

    def __enter__(self) -> MarkedWriter:
        self._writer.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._writer.__exit__(*exc_info)

    def __getattr__(self, name: str):
        return getattr(self._writer, name)


def marked(writer, marks: Marks | None):
    """`writer` marking every frame with `marks` (unchanged without: a draft made only to be tracked again)."""
    return MarkedWriter(writer, marks) if marks is not None else writer


@dataclass
class Provenance:
    """A job's identity and what its manifest will say, decided before its first frame."""

    job: str  # reenact | edit | dub | animate
    marks: Marks
    ingredients: list[dict]  # {"role", "name", "sha256"}
    actions: list[dict]  # {"action", "description", "frames": [first, stop] | None}
    signing: Signing

    def seal(self, output: Path, marking_seconds: float = 0.0) -> dict:
        """Sign the finished `output`; returns what the report says of its marks, with the time spent marking
        (`marking_seconds`, the frames') and sealing (hashing the pictures, signing)."""
        started = time.perf_counter()
        marks = {"visible_label": self.marks.label is not None, "watermark": True,
                 "watermark_payload": {"job_id": self.marks.job_id, "tool_version": self.marks.version}}
        if self.marks.label is not None:
            marks["label"] = asdict(self.marks.label)
        claim = Claim(title=Path(output).name, job=self.job, job_id=self.marks.job_id, tool_version=self.marks.version,
                      actions=self.actions, ingredients=self.ingredients, pictures=pictures_hash(Path(output)),
                      marks=marks)
        where = sign_output(Path(output), claim, self.signing)
        return {"job_id": self.marks.job_id, "visible_label": marks["visible_label"], "label": marks.get("label"),
                "watermark": True,
                "manifest": str(where) if where != Path(output) else "embedded",
                "seconds": round(marking_seconds + time.perf_counter() - started, 2)}

    def plain(self) -> dict:
        """As JSON, for a plan folder (`pipeline.segments`)."""
        return {"job": self.job, "marks": {**asdict(self.marks), "label": asdict(self.marks.label)
                                           if self.marks.label is not None else None},
                "ingredients": self.ingredients, "actions": self.actions,
                "signing": {"key": str(Path(self.signing.key).resolve()),
                            "cert": str(Path(self.signing.cert).resolve())}}

    @classmethod
    def of_plain(cls, plain: dict) -> Provenance:
        m = plain["marks"]
        marks = Marks(m["job_id"], m["version"], Label(**m["label"]) if m["label"] is not None else None)
        return cls(plain["job"], marks, plain["ingredients"], plain["actions"],
                   Signing(Path(plain["signing"]["key"]), Path(plain["signing"]["cert"])))


def provenance(job: str, name: str, inputs: dict[str, Path], settings: dict, options: MarkOptions,
               changed: list[tuple[int, int]], extra_actions: list[dict] = ()) -> Provenance:
    """The provenance of a job of kind `job` driven by `name`, reading `inputs` (by role; a folder is hashed file by
    file), with `settings` (anything else that changes its pixels), changing output frames `changed` (ranges). The
    identifier is a hash of the input files, the settings and dvp's version, unless `options.job_id` gives one."""
    given = {role: Path(path) for role, path in inputs.items() if path is not None}
    ingredients = [{"role": role, "name": path.name, "sha256": content_sha256(path)} for role, path in given.items()]
    # A model folder's files carry its training run's timings, so two runs of one training differ in bytes though
    # not in weights: the manifest records its hash, the identifier leaves it out.
    files = [item for item, path in zip(ingredients, given.values()) if path.is_file()]
    version = tool_version()
    identity = json.dumps({"job": job, "ingredients": files, "settings": settings, "version": version,
                           "label": asdict(options.label) if options.visible else None}, sort_keys=True, default=str)
    job_id = options.job_id.lower() if options.job_id else hashlib.sha256(identity.encode()).hexdigest()[:8]
    marks = Marks(job_id, version, options.label if options.visible else None)
    what = CHANGES.get(job, job).format(name=name)
    if len(changed) > MAX_ACTIONS:
        changed = [(changed[0][0], changed[-1][1])]
    actions = [{"action": "c2pa.edited", "description": what, "frames": [int(a), int(b)]} for a, b in changed]
    actions += list(extra_actions)
    label = f"a visible label \"{options.label.text}\"" if options.visible else "no visible label (--no-visible-mark)"
    actions.append({"action": "c2pa.watermarked",
                    "description": f"an invisible watermark carrying job {job_id} and dvp {version}, and {label}"})
    return Provenance(job, marks, ingredients, actions, options.signing())


def content_sha256(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (their names and hashes, in name order)."""
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path).as_posix()}\0{file_sha256(item)}\n".encode())
    return digest.hexdigest()


def tool_version() -> str:
    try:
        return metadata.version("dvp")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"
