"""Command outputs: staged beside ``--out``, moved into place only on success, listed in a manifest.

Every command that writes a folder does so through :func:`staged_output`:

- the files are written into a temporary folder beside ``--out`` and moved into ``--out`` only when the
  command succeeded; after a refusal or an error ``--out`` is exactly as before;
- an ``--out`` that holds the results of this command for another input is refused unless ``overwrite``,
  and a rerun first removes the files its previous run listed (no stale picture survives);
- a file of the same name that no run of this command wrote, or that changed after it did, is never replaced
  without ``overwrite``;
- an ``--out`` that is a file, lies under a file, is read-only, is one of the inputs or lies inside an input
  folder is refused in one sentence before any work starts (:func:`check_output`);
- the manifest ``spinebq-manifest-<command>.json`` lists the inputs with their fingerprints, the options, a
  pseudonymous patient key and every file written with its SHA-256.

Readers of results (``report``, ``assess``) go through :func:`read_results`, which uses only the files a
manifest lists and checks that they are unchanged; :func:`check_same_patient` compares the patient keys.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spinebq import __version__
from spinebq.errors import SpinebqError, option

#: Schema of the manifest written beside every command's outputs.
MANIFEST_SCHEMA = "spinebq.manifest/1"
#: Prefix of the temporary folder a command writes into before its files are moved into ``--out``.
STAGING_PREFIX = ".spinebq-staging-"
#: What a manifest records for an input's path and ``--out`` without ``--include-phi`` (the fingerprint is kept).
UNRECORDED_PATH = "not recorded: a folder or file name may name the patient (--include-phi records it where a command has it)"


def manifest_name(command: str) -> str:
    """File name of the manifest of ``command`` in its output folder."""
    return f"spinebq-manifest-{command}.json"


class InputEntry(BaseModel):
    """One input of a run: where it was and what it held."""

    model_config = ConfigDict(extra="forbid")
    path: str
    kind: str = Field(pattern="^(file|folder)$")
    fingerprint: str = Field(min_length=8)


class FileEntry(BaseModel):
    """One file a run wrote, relative to its output folder."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1)
    bytes: int = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)


class PatientEntry(BaseModel):
    """Pseudonymous keys of the patient and study, or None with the reason they could not be made."""

    model_config = ConfigDict(extra="forbid")
    key: str | None = None
    study: str | None = None
    note: str | None = None


class Manifest(BaseModel):
    """What one command run read and wrote (``spinebq-manifest-<command>.json``)."""

    model_config = ConfigDict(extra="forbid")
    schema_: str = Field(alias="schema", pattern="^spinebq\\.manifest/1$")
    command: str
    spinebq_version: str
    inputs: dict[str, InputEntry]
    options: dict[str, Any]
    patient: PatientEntry
    files: list[FileEntry]

    def listed(self, name: str) -> bool:
        return any(f.path == name for f in self.files)


@dataclass(frozen=True)
class Results:
    """A folder of results read through its manifest.

    Attributes
    ----------
    folder : Path
        The output folder.
    manifest : Manifest
        Its manifest for the command that wrote the results.
    """

    folder: Path
    manifest: Manifest

    def files(self, pattern: str = "*") -> list[Path]:
        """The listed files whose name matches ``pattern`` (glob), sorted; unlisted files are never returned."""
        return sorted(self.folder / f.path for f in self.manifest.files if Path(f.path).match(pattern))


def user_umask() -> int:
    """The process's umask (read without changing it for longer than the call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes; for a folder of spinebq results, of the files its manifests list (each name and
    SHA-256: the same results written again are the same input, as when the README's commands are run twice); for
    any other folder, of its files' relative paths, sizes and times."""
    digest = hashlib.sha256()
    if path.is_dir():
        results = _listed_results(path)
        if results:
            digest.update(results.encode())
            return "results:" + digest.hexdigest()
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            st = p.stat()
            digest.update(f"{p.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return "listing:" + digest.hexdigest()
    return "sha256:" + _sha256(path)


def _listed_results(folder: Path) -> str:
    """Each manifest of ``folder`` as ``command`` and the name and SHA-256 of every file it lists, one per line;
    empty when the folder holds no readable manifest."""
    lines = []
    for path in sorted(folder.glob(manifest_name("*"))):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            lines += [str(manifest["command"])] + [f"{f['path']}\0{f['sha256']}" for f in manifest["files"]]
        except (OSError, ValueError, KeyError, TypeError):
            return ""
    return "\n".join(lines)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _existing_inputs(inputs: Mapping[str, str | Path | None]) -> dict[str, Path]:
    return {role: Path(p) for role, p in inputs.items() if p and Path(p).exists()}


def check_writable(out: str | Path) -> None:
    """Refuse an output folder that is a file, lies under a file or cannot be written by this user.

    Raises
    ------
    SpinebqError
        One sentence naming ``out`` and what is wrong.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpinebqError(f"{out}: {option('out')} is a file, not a folder; give a folder for the results")
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise SpinebqError(f"{out}: {option('out')} lies under {existing}, which is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SpinebqError(f"{out}: cannot write there ({existing} is read-only for this user); choose another {option('out')}")


def check_output(out: str | Path, command: str, inputs: Mapping[str, str | Path | None], *,
                 overwrite: bool = False) -> None:
    """Refuse an output folder spinebq cannot or must not write, before any work starts.

    Parameters
    ----------
    out : path
        The ``--out`` folder (need not exist).
    command : str
        The command name (its manifest is ``spinebq-manifest-<command>.json``).
    inputs : mapping of role to path
        The command's input files and folders by option name; None and missing paths are skipped.
    overwrite : bool
        Allow replacing the results of this command for another input.

    Raises
    ------
    SpinebqError
        One sentence naming ``out`` and what is wrong.
    """
    out = Path(out)
    check_writable(out)
    resolved = out.resolve()
    for role, path in _existing_inputs(inputs).items():
        source = path.resolve()
        if resolved == source:
            raise SpinebqError(f"{out}: {option('out')} is also the input {option(role)}; spinebq never writes over "
                               "its inputs, choose another folder")
        if source.is_dir() and source in resolved.parents:
            raise SpinebqError(f"{out}: {option('out')} lies inside the input folder {path} ({option(role)}); "
                               "spinebq never writes into its inputs, choose another folder")
    previous = _previous_manifest(out, command)
    if previous is None or overwrite:
        return
    if isinstance(previous, str):
        raise SpinebqError(f"{out / manifest_name(command)}: {previous}; give {option('overwrite')} to replace the results there")
    present = _existing_inputs(inputs)
    if not present:
        return
    primary, now = next(iter(present.items()))  # the first input given
    before = previous.inputs.get(primary)
    if (before is None and previous.inputs) or (before is not None and before.fingerprint != fingerprint(now)):
        raise SpinebqError(f"{out}: already holds the results of spinebq {command} for another input than {now}; "
                           f"give {option('overwrite')} to replace them, or choose another {option('out')}")


def _previous_manifest(out: Path, command: str) -> Manifest | str | None:
    """The manifest of ``command`` in ``out``; a string saying what is wrong when it is unreadable."""
    file = out / manifest_name(command)
    if not file.is_file():
        return None
    try:
        return Manifest.model_validate_json(file.read_bytes())
    except (OSError, ValidationError, ValueError):
        return "the manifest of the previous run is unreadable"


def patient_entry(metadata: Mapping[str, Any] | None) -> PatientEntry:
    """Pseudonymous patient and study keys from an image's metadata (the DICOM header), or why there are none.

    The key is a truncated SHA-256 of PatientID and PatientBirthDate: equal for the same patient, and not the
    identifier itself.
    """
    if not metadata:
        return PatientEntry(note="no image header was read")
    phi = metadata.get("phi") or {}
    pid, birth = phi.get("patient_id"), phi.get("patient_birth_date")
    study = metadata.get("study_uid")
    key = _pseudonym("patient", pid, birth) if pid else None
    note = None if key else (f"the {metadata.get('format') or 'image'} input carries no PatientID")
    return PatientEntry(key=key, study=_pseudonym("study", study) if study else None, note=note)


def _pseudonym(kind: str, *parts: str | None) -> str:
    return hashlib.sha256("\0".join(["spinebq", kind, *(p or "" for p in parts)]).encode()).hexdigest()[:16]


def _jsonable_options(options: Mapping[str, Any]) -> dict[str, Any]:
    plain = (str, int, float, bool, type(None))
    out = {}
    for key, value in sorted(options.items()):
        if key.startswith("_"):
            continue
        if isinstance(value, plain):
            out[key] = value if not isinstance(value, float) or value == value else None
        elif isinstance(value, (list, tuple)) and all(isinstance(v, plain) for v in value):
            out[key] = list(value)
    return out


@contextmanager
def staged_output(out: str | Path, *, command: str, inputs: Mapping[str, str | Path | None],
                  options: Mapping[str, Any] | None = None, overwrite: bool = False,
                  patient: PatientEntry | None = None) -> Iterator[Path]:
    """Write a command's outputs into a temporary folder; move them into ``out`` only when the block succeeds.

    Parameters
    ----------
    out : path
        The output folder.
    command : str
        The command's name.
    inputs : mapping of role to path
        The inputs by option name, the primary input first (it decides whether ``out`` holds another input's
        results).
    options : mapping, optional
        The options of the run, written into the manifest (plain values only).
    overwrite : bool
        Replace this command's results for another input.
    patient : PatientEntry, optional
        Pseudonymous patient keys (:func:`patient_entry`).

    Yields
    ------
    Path
        The temporary folder to write into.

    Raises
    ------
    SpinebqError
        As :func:`check_output`, or when a file written would replace an input, another command's result or,
        without ``overwrite``, a file this command did not write or that changed since it did.
    """
    out = Path(out)
    check_output(out, command, inputs, overwrite=overwrite)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX + out.name + "-", dir=parent))
    except OSError as exc:
        raise SpinebqError(f"{out}: cannot write beside it ({exc.strerror or exc}); choose another {option('out')}") from None
    try:
        yield staging
        _commit(staging, out, command=command, inputs=inputs, options=options or {}, overwrite=overwrite,
                patient=patient or PatientEntry(note="the command reads no image header"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit(staging: Path, out: Path, *, command: str, inputs: Mapping[str, str | Path | None],
            options: Mapping[str, Any], overwrite: bool, patient: PatientEntry) -> None:
    written = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file() or p.is_symlink())
    sources = {p.resolve(): role for role, p in _existing_inputs(inputs).items()}
    theirs = _files_of_other_commands(out, command)
    for name in written:
        target = (out / name).resolve()
        if target in sources:
            raise SpinebqError(f"{out / name}: spinebq {command} would write over its input "
                               f"{option(sources[target])}; choose another {option('out')}")
        if name in theirs:
            raise SpinebqError(f"{out / name}: belongs to the results of spinebq {theirs[name]} in {out}; "
                               f"write to another {option('out')}")
    if not overwrite:
        for name in written:
            reason = _not_ours(out, command, name)
            if reason:
                raise SpinebqError(f"{out / name}: {reason}; spinebq {command} would replace it: move it away, give "
                                   f"{option('overwrite')} to replace it, or choose another {option('out')}")
    present = _existing_inputs(inputs)
    shown = None if options.get("include_phi") else UNRECORDED_PATH  # folder and file names may name the patient
    if shown:
        options = {key: shown if key in present or key == "out" else value for key, value in options.items()}
    manifest = _manifest(staging, written, command=command,
                         inputs={role: input_entry(p, shown=shown) for role, p in present.items()},
                         options=options, patient=patient)
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous(out, command)
    for name in written:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            raise SpinebqError(f"{target}: a folder is in the way of a file spinebq {command} writes")
        os.replace(staging / name, target)
    write_atomic(out / manifest_name(command), _manifest_text(manifest))


def without_paths(document: Any, names: Mapping[str | Path | None, str]) -> Any:
    """``document`` (JSON-like: dicts, lists, texts) with every input path in its texts replaced by its words.

    Folder and file names often hold the patient's name (PACS exports), so outputs name an input by its role unless
    the user asks for paths (``--include-phi``). ``names`` maps each path (``None`` entries are skipped) to its words,
    e.g. ``{"/exports/DOE^JANE/t1.nii.gz": "the MR image"}``.
    """
    if isinstance(document, dict):
        return {key: without_paths(value, names) for key, value in document.items()}
    if isinstance(document, list):
        return [without_paths(value, names) for value in document]
    if not isinstance(document, str):
        return document
    for path, words in sorted(((str(p), w) for p, w in names.items() if p), key=lambda item: -len(item[0])):
        document = document.replace(path, words)
    return document


def input_entry(path: str | Path, *, shown: str | None = None) -> InputEntry:
    """The manifest entry of one input; ``shown`` stands for its path where the path must not be written."""
    path = Path(path)
    return InputEntry(path=shown or str(path), kind="folder" if path.is_dir() else "file", fingerprint=fingerprint(path))


def _manifest(folder: Path, names: list[str], *, command: str, inputs: Mapping[str, InputEntry],
              options: Mapping[str, Any], patient: PatientEntry) -> Manifest:
    entries = [FileEntry(path=name, bytes=(folder / name).stat().st_size, sha256=_sha256(folder / name)) for name in names]
    return Manifest(schema=MANIFEST_SCHEMA, command=command, spinebq_version=__version__, inputs=dict(inputs),
                    options=_jsonable_options(options), patient=patient, files=entries)


def _manifest_text(manifest: Manifest) -> str:
    return json.dumps(manifest.model_dump(mode="json", by_alias=True), indent=2) + "\n"


def write_manifest(folder: str | Path, *, command: str, inputs: Mapping[str, InputEntry], options: Mapping[str, Any],
                   patient: PatientEntry) -> Path:
    """List every file already in ``folder`` in the manifest of ``command``, as :func:`staged_output` does.

    For writers that stage a whole folder themselves (the batch writes each study into a temporary folder and
    moves it into place), so that :func:`read_results` reads their folders as it reads a command's ``--out``.

    Parameters
    ----------
    folder : path
        The complete folder of results.
    command : str
        ``"ct"`` or ``"mri"``: the command whose outputs the folder holds.
    inputs : mapping of role to InputEntry
        :func:`input_entry` of each input, by the command's option name.
    options : mapping
        The options of the run (plain values are kept).
    patient : PatientEntry
        Pseudonymous patient keys (:func:`patient_entry`).

    Returns
    -------
    Path
        The manifest written.
    """
    folder = Path(folder)
    manifest_file = folder / manifest_name(command)
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p != manifest_file)
    manifest = _manifest(folder, names, command=command, inputs=inputs, options=options, patient=patient)
    return write_atomic(manifest_file, _manifest_text(manifest))


def _files_of_other_commands(out: Path, command: str) -> dict[str, str]:
    """Files listed by the manifests of other commands in ``out``: name -> command."""
    owned: dict[str, str] = {}
    if not out.is_dir():
        return owned
    for file in out.glob(manifest_name("*")):
        other = _previous_manifest(out, file.name.removeprefix("spinebq-manifest-").removesuffix(".json"))
        if isinstance(other, Manifest) and other.command != command:
            owned.update({f.path: other.command for f in other.files})
    return owned


def _not_ours(out: Path, command: str, name: str) -> str | None:
    """Why the file ``name`` in ``out`` is not this command's to replace (None when it is absent or is).

    A file is this command's when its previous manifest in ``out`` lists it with the same SHA-256: a file no
    manifest lists (the user's own) or one changed since it was written (e.g. labels corrected by hand) is not.
    """
    target = out / name
    if not target.is_file():
        return None
    previous = _previous_manifest(out, command)
    listed = {f.path: f.sha256 for f in previous.files} if isinstance(previous, Manifest) else {}
    if name not in listed:
        return "the file is already there and no spinebq run wrote it"
    if listed[name] != _sha256(target):
        return "the file was changed after spinebq wrote it"
    return None


def _remove_previous(out: Path, command: str) -> None:
    """Remove the manifest of ``command`` in ``out`` and every file it lists (nothing else)."""
    previous = _previous_manifest(out, command)
    (out / manifest_name(command)).unlink(missing_ok=True)
    if not isinstance(previous, Manifest):
        return
    root = out.resolve()
    folders = set()
    for entry in previous.files:
        target = (out / entry.path).resolve()
        if root not in target.parents or not target.is_file():
            continue  # a listed path outside the folder is never touched
        target.unlink()
        folders.update(p for p in target.parents if root in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass


def write_atomic(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` through a temporary file beside ``path`` and rename it, so a crash never leaves half a file;
    permissions follow the user's umask. The one writer of every output file (``encoding``: UTF-8, or
    :data:`spinebq.constants.EXCEL_CSV_ENCODING` for a table opened in Excel)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~user_umask())
        with os.fdopen(fd, "w", encoding=encoding) as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def staged(args: Any, *, metadata: Mapping[str, Any] | None = None,
           patient: PatientEntry | None = None) -> Any:
    """:func:`staged_output` for a command's parsed arguments (``args.out``, ``args.overwrite``, the inputs the
    command module declares in ``INPUTS``); ``metadata`` of the loaded image gives the patient keys."""
    inputs = {name: getattr(args, name, None) for name in getattr(args, "_inputs", ())}
    if patient is None and metadata is not None:
        patient = patient_entry(metadata)
    return staged_output(args.out, command=args.command, inputs=inputs, options=vars(args),
                         overwrite=bool(getattr(args, "overwrite", False)), patient=patient)


def read_results(path: str | Path, command: str, document: str) -> Results:
    """The results of ``command`` in a folder (or the folder of a file), read through their manifest.

    Parameters
    ----------
    path : path
        The output folder of ``command``, or its ``document`` file.
    command : str
        ``"ct"`` or ``"mri"``.
    document : str
        The file the reader needs (``measurements.json``, ``mri.json``); it must be listed and unchanged.

    Raises
    ------
    SpinebqError
        When the folder has no readable manifest, the manifest does not list ``document``, or a listed file
        changed after it was written.
    """
    path = Path(path)
    if not path.exists():  # not its parent's manifest: a mistyped folder is named as such
        raise SpinebqError(f"{path}: no such folder (give the folder written by spinebq {command})")
    folder = path if path.is_dir() else path.parent
    manifest = _previous_manifest(folder, command)
    if manifest is None and _previous_manifest(folder / command, command) is not None:  # a batch study's folder
        raise SpinebqError(f"{folder}: the results of spinebq {command} are in its subfolder {command}: give "
                           f"{folder / command}")
    if manifest is None:
        raise SpinebqError(f"{folder}: no {manifest_name(command)} there; give a folder written by spinebq {command} "
                           f"(results written before manifests existed need spinebq {command} run again)")
    if isinstance(manifest, str):
        raise SpinebqError(f"{folder / manifest_name(command)}: {manifest}; run spinebq {command} again")
    if not manifest.listed(document):
        raise SpinebqError(f"{folder}: the manifest of spinebq {command} does not list {document}")
    results = Results(folder, manifest)
    for entry in manifest.files:
        if entry.path == document or entry.path.endswith(".png"):
            file = folder / entry.path
            if not file.is_file() or _sha256(file) != entry.sha256:
                raise SpinebqError(f"{file}: changed or missing since spinebq {command} wrote it (it differs from "
                                   f"the manifest); run spinebq {command} again")
    return results


def check_same_patient(parts: Mapping[str, PatientEntry]) -> str | None:
    """Refuse inputs of different patients; return a sentence when the check could not be made, else None.

    Parameters
    ----------
    parts : mapping of label to PatientEntry
        e.g. ``{"--ct out/ct": ..., "--mri out/mri": ...}``.

    Raises
    ------
    SpinebqError
        When two inputs carry different patient keys.
    """
    if len(parts) < 2:
        return None
    keyed = {label: p.key for label, p in parts.items() if p.key}
    if len(set(keyed.values())) > 1:
        raise SpinebqError(f"{' and '.join(keyed)} are of different patients (their DICOM PatientID and birth date "
                           "differ); give the results of one patient")
    unknown = [f"{label} ({p.note or 'no patient key'})" for label, p in parts.items() if not p.key]
    if unknown:
        return "could not check that the inputs are of one patient: " + "; ".join(unknown)
    return None
