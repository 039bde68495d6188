"""Signed C2PA manifests (Content Credentials) for the videos dvp writes.

A synthesised face must be recognisable as synthesised after the file leaves dvp. Besides the visible label and
the invisible watermark, every output carries a C2PA manifest signed with the studio's certificate: what job made
it (job id, dvp's version), from which inputs (names and sha256), which frames were generated, and a hash of the
decoded pictures. Anyone with a C2PA reader can check that the manifest is intact and belongs to this file.

Where the manifest lives:

- an MP4 or MOV: embedded (a `uuid` box, c2pa's BMFF support), bound to the file's bytes;
- a PNG-sequence folder, or a file c2pa cannot embed in: a sidecar `<output>.c2pa` beside it. A folder's sidecar
  is bound to a listing of the folder's files (name, size, sha256; `sequence_listing`), a file's to its bytes;
  `read_manifest` rebuilds the same and checks the binding.

Without configured credentials a local test pair is made (`default_signing`): its manifests verify as intact
("Valid") but not as trusted, since no C2PA trust list names its CA; a studio certificate from a CA on a trust list
gives "Trusted".
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import logging
import mimetypes
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from base.errors import DvpError
from base.ffmpeg_process import forget_unfinished, run_for_report, track_unfinished

log = logging.getLogger("dvp")

SIDECAR_SUFFIX = ".c2pa"
KEY_FILE, CERT_FILE = "key.pem", "cert.pem"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# What a job's pictures are, in IPTC's digital source types: a face synthesised into real footage, or a whole
# picture made from a photo by a face model and trained networks.
SOURCE_TYPES = {"reenact": "compositeWithTrainedAlgorithmicMedia", "edit": "compositeWithTrainedAlgorithmicMedia",
                "dub": "compositeWithTrainedAlgorithmicMedia", "animate": "trainedAlgorithmicMedia"}
PARENT_ROLE = "target video"  # the footage a reenact, edit or dub changes: the manifest's parent ingredient
JOB_LABEL, INGREDIENTS_LABEL = "org.dvp.job", "org.dvp.ingredients"
# The invisible watermark, declared as C2PA's soft binding (c2pa requires one beside a c2pa.watermarked action):
# its value is the payload the pictures carry, the job id's 4 bytes then the version's major, minor, patch.
SOFT_BINDING, WATERMARK_ALG = "c2pa.soft-binding", "org.dvp.watermark.1"
# Containers c2pa embeds a manifest in (BMFF); anything else gets a sidecar.
EMBEDDED = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime"}
# A sidecar's hard binding: c2pa's data hash over the bytes given, whatever they are.
SIDECAR_FORMAT = "application/octet-stream"
LISTING_HEADER = "dvp image sequence listing 1\n"
PICTURES_METHOD = "sha256 of the first video stream's packets as stored (a sequence: its picture files in order)"
PICTURE_SUFFIXES = {".png", ".tif", ".tiff", ".dpx", ".exr", ".jpg", ".jpeg"}
# Failure codes that say only that the certificate's CA is on no trust list c2pa knows (a local test pair, a
# studio CA not configured as trusted): the manifest is still intact.
TRUST_ONLY = {"signingCredential.untrusted", "timeStamp.untrusted"}
_EXPLAINED = {
    "assertion.dataHash.mismatch": "the file's contents differ from those the manifest was signed for (changed "
                                   "after signing, or the manifest belongs to another file)",
    "assertion.bmffHash.mismatch": "the file's contents differ from those the manifest was signed for (changed "
                                   "after signing, or the manifest belongs to another file)",
    "assertion.boxesHash.mismatch": "the file's contents differ from those the manifest was signed for (changed "
                                    "after signing, or the manifest belongs to another file)",
    "assertion.hashedURI.mismatch": "a statement in the manifest was changed after signing",
    "assertion.missing": "a statement the manifest lists is missing",
    "claimSignature.mismatch": "the signature does not match the manifest: the manifest was changed after signing",
    "signingCredential.invalid": "the signing certificate is not valid for signing",
    "signingCredential.expired": "the signing certificate had expired when it signed",
    "signingCredential.revoked": "the signing certificate has been revoked",
}
# c2pa-rs 0.91 (c2pa-python 0.38.1) stores a JSON array whose first item is a number as a CBOR byte string,
# dropping negative, fractional and >255 values; such lists are kept as JSON text under this key instead.
_NUMBERS = "org.dvp.json"


@dataclass
class Signing:
    """The credentials a manifest is signed with."""

    key: Path  # PEM private key
    cert: Path  # PEM certificate chain (leaf first)


@dataclass
class Claim:
    """What dvp states about an output it wrote; `sign_output` turns it into the manifest's assertions."""

    title: str  # output file name
    job: str  # "reenact" | "edit" | "dub" | "animate"
    job_id: str  # 8 hex chars, also carried by the invisible watermark
    tool_version: str  # dvp's version
    actions: list[dict]  # each {"action": "c2pa.edited" | ..., "description": str, "frames": [first, stop] or None}
    ingredients: list[dict]  # each {"role": "target video" | "source video" | ..., "name": file name, "sha256": hex}
    pictures: str  # sha256 hex over the decoded pictures (pictures_hash)
    marks: dict  # e.g. {"visible_label": True, "label_text": "...", "watermark": True}


@dataclass
class ManifestReading:
    """What `read_manifest` found, for `dvp verify` and for people checking a file they were sent."""

    found: bool  # a manifest was found (embedded or sidecar)
    where: str | None  # "embedded" | "sidecar" | None
    valid: bool  # signature and hard binding valid (state Valid or Trusted, no failures but an untrusted CA)
    state: str | None  # c2pa's validation state string
    problems: list[str]  # c2pa validation failures, human readable
    signer: str | None  # common name (organisation) of the signing certificate
    claim: dict | None  # what the org.dvp.job (+ingredients, actions) assertions say
    pictures_match: bool | None  # pictures_hash(video) == claim's pictures (None when no manifest or no hash)


# --- credentials ---------------------------------------------------------------------------------------------------


def default_signing() -> Signing:
    """The signing pair to use when none is configured: env DVP_SIGNING_KEY/DVP_SIGNING_CERT when both set, else a
    local test pair in platformdirs.user_data_dir("dvp")/"signing" (made by make_test_pair on first use), so that
    every output is signed even before a studio certificate is set up."""
    key, cert = os.environ.get("DVP_SIGNING_KEY"), os.environ.get("DVP_SIGNING_CERT")
    if key and cert:
        return Signing(Path(key), Path(cert))
    if key or cert:
        given, missing = ("DVP_SIGNING_KEY", "DVP_SIGNING_CERT") if key else ("DVP_SIGNING_CERT", "DVP_SIGNING_KEY")
        raise DvpError(f"{given} is set but {missing} is not: set both (the PEM private key and its certificate "
                       "chain), or neither to sign with the local test pair.")
    import platformdirs

    folder = Path(platformdirs.user_data_dir("dvp")) / "signing"
    pair = Signing(folder / KEY_FILE, folder / CERT_FILE)
    if pair.key.is_file() and pair.cert.is_file():
        return pair
    if folder.exists() and any(folder.iterdir()):
        raise DvpError(f"{folder}: holds an incomplete signing pair (it needs both {KEY_FILE} and {CERT_FILE}); "
                       "delete the folder to have a new local test pair made, or set DVP_SIGNING_KEY and "
                       "DVP_SIGNING_CERT.")
    # Made aside and renamed into place, so two processes starting at once end up with one whole pair.
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = folder.with_name(f".dvp-tmp-{secrets.token_hex(4)}-signing")
    try:
        make_test_pair(temp)
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.rename(temp, folder)
        log.info("made a local test signing pair in %s (untrusted: set DVP_SIGNING_KEY and DVP_SIGNING_CERT to sign "
                 "with a studio certificate)", folder)
    except OSError:
        if not (pair.key.is_file() and pair.cert.is_file()):  # not another process's pair: a real failure
            raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return pair


def make_test_pair(folder: Path, name: str = "dvp local test") -> Signing:
    """A local test CA + an ES256 (P-256) signing certificate issued by it, written as key.pem and cert.pem (chain:
    leaf then CA) in folder: c2pa refuses self-signed signing certificates, so a chain is the least it signs with.
    The CA's key is thrown away (it issues nothing else). Refuses to overwrite existing files."""
    folder = Path(folder)
    pair = Signing(folder / KEY_FILE, folder / CERT_FILE)
    existing = [str(path) for path in (pair.key, pair.cert) if path.exists()]
    if existing:
        raise DvpError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; a test pair is "
                       "never written over credentials. Choose an empty folder, or delete them first.")
    now = dt.datetime.now(dt.timezone.utc)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=3650)  # an hour back for clock skew
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dvp")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(_key_usage(cert_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                           x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dvp")])
    leaf = (x509.CertificateBuilder().subject_name(leaf_name).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    try:  # exclusive creation: a pair appearing meanwhile is refused too, never overwritten
        with open(os.open(pair.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(key_pem)
        with open(pair.cert, "xb") as out:
            out.write(chain)
    except FileExistsError as exc:
        raise DvpError(f"{exc.filename} appeared while the test pair was being written; nothing was "
                       "overwritten. Delete the folder's pair and try again.") from None
    return pair


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _load_signing(signing: Signing) -> tuple[str, bytes, bytes]:
    """(c2pa's algorithm name, certificate chain PEM, key PEM), checked here so that a wrong file gets a message
    saying which, rather than c2pa's "signature does not match"."""
    help_ = ("Set DVP_SIGNING_KEY and DVP_SIGNING_CERT to a PEM private key and the PEM certificate chain issued "
             "for it (leaf first), or unset both to sign with the local test pair.")
    try:
        key_pem, chain = Path(signing.key).read_bytes(), Path(signing.cert).read_bytes()
    except OSError as exc:
        what = "key" if exc.filename == str(signing.key) else "certificate chain"
        raise DvpError(f"{exc.filename}: cannot read the signing {what} ({exc.strerror}). {help_}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DvpError(f"{signing.key}: is not an unencrypted PEM private key ({exc}). {help_}") from None
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError as exc:
        raise DvpError(f"{signing.cert}: holds no PEM certificate ({exc}). {help_}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if certs[0].public_key().public_bytes(serialization.Encoding.PEM, public) != \
            key.public_key().public_bytes(serialization.Encoding.PEM, public):
        raise DvpError(f"{signing.key} is not the key of the first certificate in {signing.cert} "
                       f"({certs[0].subject.rfc4514_string()}): the chain must start with the signing certificate "
                       f"issued for this key. {help_}")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(key.curve.name)
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "ed25519"
    elif isinstance(key, rsa.RSAPrivateKey):
        alg = "ps256"
    else:
        alg = None
    if alg is None:
        raise DvpError(f"{signing.key}: C2PA signs with EC P-256/384/521, Ed25519 or RSA keys, not this one. {help_}")
    return alg, chain, key_pem


def _signer(signing: Signing) -> c2pa.Signer:
    alg, chain, key = _load_signing(signing)
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, chain, key, None))


# --- hashes --------------------------------------------------------------------------------------------------------


def pictures_hash(video: Path) -> str:
    """sha256 over the coded pictures: the first video stream's packets as stored (ffmpeg's hash muxer, no
    decoding, so it costs a read of the file), or a PNG sequence's picture files in name order. A remux that
    copies the stream (MP4 to MOV, a new audio track, a new manifest) still matches; any re-encoding does not."""
    video = Path(video)
    if video.is_dir():
        digest = hashlib.sha256()
        for picture in sorted(p for p in video.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES):
            digest.update(picture.read_bytes())
        return digest.hexdigest()
    run = run_for_report("-v", "error", "-i", str(video), "-map", "0:v:0", "-c", "copy", "-f", "hash", "-hash",
                         "sha256", "-")
    found = re.search(r"SHA256=([0-9a-f]{64})", run.stdout)
    if run.returncode != 0 or found is None:
        raise DvpError(f"{video}: its pictures cannot be read ({run.stderr.strip() or 'no video stream'}); give a "
                       "video file or a PNG-sequence folder")
    return found.group(1)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks (for ingredients and listings)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sequence_listing(folder: Path) -> bytes:
    """What a folder's sidecar is bound to: one line per file (sha256, size, path within the folder), in name order;
    hidden files left out. Any frame, `sequence.json` or `audio.wav` changed, added or removed changes it."""
    folder = Path(folder)
    files = sorted(path for path in folder.rglob("*") if path.is_file()
                   and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    lines = [f"{file_sha256(path)}  {path.stat().st_size}  {path.relative_to(folder).as_posix()}\n" for path in files]
    return (LISTING_HEADER + "".join(lines)).encode()


def sidecar_path(output: Path) -> Path:
    """Where `output`'s sidecar manifest goes: `<output>.c2pa` beside it (for a folder, its name + ".c2pa")."""
    output = Path(output)
    return output.with_name(output.name + SIDECAR_SUFFIX)


# --- signing -------------------------------------------------------------------------------------------------------


def sign_output(output: Path, claim: Claim, signing: Signing) -> Path:
    """Embed a signed manifest in output (an MP4 or MOV, replaced atomically), or, where the container cannot carry
    it (a PNG-sequence folder, anything c2pa refuses), write a sidecar `<output>.c2pa`. Returns where the manifest
    is."""
    output = Path(output)
    if not output.exists():
        raise DvpError(f"{output}: does not exist, so it cannot be signed. Sign an output after it is written.")
    signer = _signer(signing)
    if output.is_dir():
        listing = sequence_listing(output)
        return _sign_sidecar(output, claim, signer, io.BytesIO(listing), "image/png", "sequence listing", signing)
    mime = EMBEDDED.get(output.suffix.lower())
    if mime is not None:
        try:
            _embed(output, claim, signer, mime)
        except c2pa.C2paError as exc:
            if isinstance(exc, c2pa.C2paError.Signature):
                raise _signing_error(output, exc, signing) from None
            log.warning("%s: c2pa cannot embed a manifest in this file (%s); writing a sidecar %s instead",
                        output, exc, sidecar_path(output).name)
            signer = _signer(signing)  # a Builder's sign consumes nothing, but a failed one may leave it closed
        else:
            stale = sidecar_path(output)
            if stale.is_file():  # from an earlier file at this path: it no longer describes anything
                stale.unlink()
            return output
    with open(output, "rb") as stream:
        return _sign_sidecar(output, claim, signer, stream, mime or _mime(output.name), "file bytes", signing)


def _embed(output: Path, claim: Claim, signer: c2pa.Signer, mime: str) -> None:
    """Write output with the manifest embedded to a temporary file beside it, then move it over output."""
    temp = output.with_name(f".dvp-tmp-{secrets.token_hex(4)}-{output.name}")
    track_unfinished(temp)
    try:
        builder = c2pa.Builder(_manifest(claim, mime, "embedded"), _context())
        with open(output, "rb") as source, open(temp, "w+b") as dest:
            builder.sign(signer, mime, source, dest)
        shutil.copymode(output, temp)
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)
        forget_unfinished(temp)


def _sign_sidecar(output: Path, claim: Claim, signer: c2pa.Signer, bound: Any, mime: str, binding: str,
                  signing: Signing) -> Path:
    """A manifest bound to the bytes of `bound` (the file, or a folder's listing) in a sidecar beside output."""
    path = sidecar_path(output)
    try:
        builder = c2pa.Builder(_manifest(claim, mime, f"sidecar: {binding}"), _context())
        builder.set_no_embed()
        manifest = builder.sign(signer, SIDECAR_FORMAT, bound, _Sink())
    except c2pa.C2paError as exc:
        raise _signing_error(output, exc, signing) from None
    temp = path.with_name(f".dvp-tmp-{secrets.token_hex(4)}-{path.name}")
    try:
        temp.write_bytes(manifest)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def _signing_error(output: Path, exc: Exception, signing: Signing) -> DvpError:
    if isinstance(exc, c2pa.C2paError.Signature) or "certificate" in str(exc).lower():
        return DvpError(f"{output}: signing its C2PA manifest with {signing.key} and {signing.cert} failed ({exc}). "
                        "The certificate must be issued by a CA (c2pa refuses self-signed ones), allow digital "
                        "signatures, not be a CA itself, and be valid now; set DVP_SIGNING_KEY and DVP_SIGNING_CERT "
                        "to a pair that does, or unset both to sign with the local test pair.")
    return DvpError(f"{output}: c2pa refused its manifest ({exc}); the output is unsigned. Report this with the "
                    "command that wrote it.")


class _Sink:
    """A write-only stream that keeps nothing: c2pa copies the asset to its destination even when the manifest
    goes to a sidecar, and a sidecar's asset may be gigabytes."""

    def __init__(self) -> None:
        self._position = self._end = 0

    def write(self, data: bytes) -> int:
        self._position += len(data)
        self._end = max(self._end, self._position)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        raise OSError("this stream keeps nothing to read")

    def seek(self, offset: int, whence: int = 0) -> int:
        self._position = offset + (0, self._position, self._end)[whence]
        return self._position

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass


def _context() -> c2pa.Context:
    """c2pa's settings for dvp: nothing fetched from the network (no remote manifests, no OCSP), no thumbnails."""
    return c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
                                   "builder": {"thumbnail": {"enabled": False}}})


def _manifest(claim: Claim, mime: str, binding: str) -> dict:
    """The manifest definition c2pa's Builder takes for `claim`."""
    source_type = IPTC + SOURCE_TYPES.get(claim.job, "trainedAlgorithmicMedia")
    requested = [_action(item, source_type) for item in claim.actions]
    first = requested[0]["action"] if requested else None
    # The footage changed is the parent (first action c2pa.opened); a picture made anew starts c2pa.created and
    # has no parent. Every other input went into the generation: inputTo.
    parent = None
    if first != "c2pa.created":
        parent = next((i for i, item in enumerate(claim.ingredients) if item.get("role") == PARENT_ROLE), None)
        if parent is None and first == "c2pa.opened" and claim.ingredients:
            parent = 0
    ingredients = [{"title": item["name"], "format": _mime(item["name"]), "description": item.get("role", ""),
                    "relationship": "parentOf" if i == parent else "inputTo", "label": f"ingredient{i}"}
                   for i, item in enumerate(claim.ingredients)]
    inputs = [entry["label"] for i, entry in enumerate(ingredients) if i != parent]
    if first not in ("c2pa.created", "c2pa.opened"):
        requested.insert(0, {"action": "c2pa.opened"} if parent is not None
                         else {"action": "c2pa.created", "digitalSourceType": source_type})
    if parent is not None:
        requested[0].setdefault("parameters", {})["ingredientIds"] = [f"ingredient{parent}"]
    generating = next((a for a in requested if a["action"] != "c2pa.opened" and "digitalSourceType" in a), None)
    if inputs and generating is not None:
        generating.setdefault("parameters", {}).setdefault("ingredientIds", []).extend(inputs)
    job = {"version": 1, "job": claim.job, "job_id": claim.job_id, "tool_version": claim.tool_version,
           "pictures": claim.pictures, "pictures_method": PICTURES_METHOD, "marks": claim.marks, "binding": binding}
    return {
        "claim_generator_info": [{"name": "dvp", "version": claim.tool_version}],
        "title": claim.title,
        "format": mime,
        "ingredients": ingredients,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": requested}},
            {"label": JOB_LABEL, "data": _storable(job)},
            {"label": INGREDIENTS_LABEL, "data": _storable({"ingredients": claim.ingredients})},
            *_soft_binding(claim),
        ],
    }


def _soft_binding(claim: Claim) -> list[dict]:
    """The watermark as a soft binding assertion, when the output carries one."""
    if not claim.marks.get("watermark"):
        return []
    version = [int("".join(c for c in part if c.isdigit()) or 0) % 256 for part in claim.tool_version.split(".")[:3]]
    value = bytes.fromhex(claim.job_id) + bytes(version + [0] * (3 - len(version)))
    return [{"label": SOFT_BINDING, "data": {"alg": WATERMARK_ALG,
                                             "blocks": [{"scope": {}, "value": base64.b64encode(value).decode()}]}}]


def _action(item: dict, source_type: str) -> dict:
    """One of the claim's actions as a C2PA action: the frames it changed as a frame region (C2PA frame ranges
    are inclusive), and the AI source type where it made or changed pictures."""
    action: dict[str, Any] = {"action": item["action"]}
    if item.get("description"):
        action["description"] = item["description"]
    if item.get("digitalSourceType"):
        given = item["digitalSourceType"]
        action["digitalSourceType"] = given if given.startswith("http") else IPTC + given
    elif item["action"] == "c2pa.created" or item["action"].startswith("c2pa.edited"):
        action["digitalSourceType"] = source_type
    frames = item.get("frames")
    if frames is not None:
        first, stop = (int(value) for value in frames)
        if stop <= first:
            raise ValueError(f"action {item['action']}: frames [{first}, {stop}) is empty")
        action["changes"] = [{"region": [{"type": "frame", "frame": {"start": first, "end": stop - 1}}]}]
    return action


def _mime(name: str) -> str:
    if Path(name).suffix.lower() in EMBEDDED:
        return EMBEDDED[Path(name).suffix.lower()]
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _storable(value: Any) -> Any:
    """`value` with every list holding a number kept as JSON text, which c2pa stores intact (see _NUMBERS)."""
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (int, float)) and not isinstance(item, bool) for item in value):
            return {_NUMBERS: json.dumps(list(value))}
        return [_storable(item) for item in value]
    return value


def _restored(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_NUMBERS}:
            return json.loads(value[_NUMBERS])
        return {key: _restored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restored(item) for item in value]
    return value


# --- reading -------------------------------------------------------------------------------------------------------


def read_manifest(video: Path, sidecar: Path | None = None) -> ManifestReading:
    """The manifest of video: embedded, else the sidecar given or the default `<video>.c2pa`, checked against the
    video. A certificate on no trust list (the local test pair) leaves valid True: state and signer say whose it
    is. A changed manifest, changed media, or a manifest of another file gives valid False and problems."""
    video = Path(video)
    if not video.exists():
        raise DvpError(f"{video}: does not exist. Give the video (or PNG-sequence folder) to check.")
    if sidecar is not None and not Path(sidecar).is_file():
        raise DvpError(f"{sidecar}: no such sidecar manifest. Give the .c2pa file written beside the video.")
    context = _context()
    if video.is_file():
        try:
            with open(video, "rb") as stream:
                reader = c2pa.Reader(_mime(video.name), stream, None, context)
                return _reading(video, reader, "embedded")
        except (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported):
            pass
        except c2pa.C2paError as exc:
            return ManifestReading(True, "embedded", False, None, [f"the embedded manifest cannot be read: {exc}"],
                                   None, None, None)
    path = Path(sidecar) if sidecar is not None else sidecar_path(video)
    if not path.is_file():
        return ManifestReading(False, None, False, None, [], None, None, None)
    manifest = path.read_bytes()
    try:
        if video.is_dir():
            return _reading(video, c2pa.Reader(SIDECAR_FORMAT, io.BytesIO(sequence_listing(video)), manifest, context),
                            "sidecar")
        with open(video, "rb") as stream:
            return _reading(video, c2pa.Reader(SIDECAR_FORMAT, stream, manifest, context), "sidecar")
    except c2pa.C2paError as exc:
        return ManifestReading(True, "sidecar", False, None, [f"the sidecar {path} cannot be read: {exc}"], None,
                               None, None)


def _reading(video: Path, reader: c2pa.Reader, where: str) -> ManifestReading:
    state = reader.get_validation_state()
    manifest = reader.get_active_manifest() or {}
    failures = _failures(reader)
    problems = [_explain(item) for item in failures if item.get("code") not in TRUST_ONLY]
    valid = state in ("Valid", "Trusted") and not problems
    info = manifest.get("signature_info") or {}
    name, organisation = info.get("common_name"), info.get("issuer")  # c2pa's "issuer": the subject's O
    signer = f"{name} ({organisation})" if name and organisation and organisation != name else name or organisation
    claim = _claim(manifest)
    pictures_match = None
    if claim is not None and claim.get("pictures"):
        try:
            pictures_match = pictures_hash(video) == claim["pictures"]
        except DvpError as exc:
            pictures_match = False
            problems.append(f"the pictures cannot be decoded to compare them with the manifest's: {exc}")
    return ManifestReading(True, where, valid, state, problems, signer, claim, pictures_match)


def _failures(reader: c2pa.Reader) -> list[dict]:
    """c2pa's failure entries for the active manifest (and its ingredients), old and new report layouts alike."""
    results = reader.get_validation_results()
    if results:
        active = results.get("activeManifest") or {}
        failures = list(active.get("failure") or [])
        for delta in results.get("ingredientDeltas") or []:
            failures += (delta.get("validationDeltas") or {}).get("failure") or []
        return failures
    status = json.loads(reader.json()).get("validation_status") or []
    return [item for item in status if item.get("code")]


def _explain(item: dict) -> str:
    code, detail = item.get("code", "?"), item.get("explanation", "")
    plain = _EXPLAINED.get(code)
    return f"{code}: {plain} ({detail})" if plain else f"{code}: {detail or 'failed'}"


def _claim(manifest: dict) -> dict | None:
    """What the manifest says in dvp's terms: the org.dvp.job fields, the ingredients, the actions (frames back
    as [first, stop]); None for a manifest without any of them."""
    assertions = {entry.get("label"): entry.get("data") for entry in manifest.get("assertions") or []}
    job = assertions.get(JOB_LABEL)
    actions = assertions.get("c2pa.actions.v2") or assertions.get("c2pa.actions")
    if job is None and actions is None:
        return None
    claim = dict(_restored(job or {}))
    claim["title"] = manifest.get("title")
    claim["ingredients"] = _restored(assertions.get(INGREDIENTS_LABEL) or {}).get("ingredients", [])
    claim["actions"] = [_plain_action(item) for item in (actions or {}).get("actions", [])]
    return claim


def _plain_action(action: dict) -> dict:
    frames = None
    for change in action.get("changes") or []:
        for region in change.get("region") or []:
            if region.get("type") == "frame" and "frame" in region:
                frames = [region["frame"]["start"], region["frame"]["end"] + 1]
    plain = {"action": action.get("action"), "description": action.get("description"), "frames": frames}
    if action.get("digitalSourceType"):
        plain["digitalSourceType"] = action["digitalSourceType"]
    return plain
