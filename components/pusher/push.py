"""Publishing a SavedModel directory into a serving base directory, atomically.

Why not the stock Pusher's copy: TFX's filesystem Pusher copies the model file
by file straight into `<base>/<version>/` (saved_model.pb last). A model server
polling `<base>` (TF Serving's file-system source loads every numeric
sub-directory) can see that directory while variables are still being copied,
and a copy interrupted by a crash or pre-emption leaves a half-copied version
behind for good. Here the copy goes to a hidden staging directory beside the
versions (`<base>/.staging-<version>-<random>`, whose name no server treats
as a version) and is renamed into place once complete. On a local or POSIX
file system the rename is atomic, so a server sees either no version or the
whole one. Object stores (gs://) have no atomic directory rename: there the
rename is a copy, and `saved_model.pb` is written last as TF Serving's
readiness signal, which is the best such stores allow.

A push killed outright (SIGKILL, a pre-empted VM) cannot clean up after
itself: its staging directory stays, as big as the model. The next push to
the same base directory removes it (`remove_stale_staging`): a staging
directory's name carries the host and process id of its push
(`.staging-<version>-<host>-<pid>-<random>`), so one whose process is gone
from this host is removed at once, and one of another host, or of an older
frontier without the fields, once it is older than `STALE_AFTER_S` (a push
still copying on another machine is left alone until then).

Two-phase push. A push is not finished when the version is in place: ML
Metadata must also record it (the `PushedModel` artifact the launcher
publishes after the executor returns). A process killed between the rename
and that record would leave a served version that no record names. So the
executor first writes a push intent (`PushIntent`: version, staging folder,
serving base, and the URI of the `PushedModel` output that will commit it)
beside its output folder (`<output uri>.push-intent.json`), then stages and
renames. ML Metadata is the commit record: before the next local run of the
pipeline, `frontier.pipelines.recovery.reconcile_pushes` reads every intent
and, if its `PushedModel` never became LIVE, rolls the push back (removes its
staging folder and its version, unless a LIVE record names that version),
then deletes the intent. A committed push's intent is just deleted. The
rolled-back model is pushed again by the re-run's Pusher if it is still
blessed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import uuid

from absl import logging

STAGING_PREFIX = ".staging-"
SAVED_MODEL_FILE = "saved_model.pb"
INTENT_SUFFIX = ".push-intent.json"
STALE_AFTER_S = 6 * 3600  # a staging directory of unknown owner older than this is dead


def _fs():
    from tfx.dsl.io import fileio

    return fileio


def next_version(base_directory: str, now: float | None = None) -> str:
    """A new version name: the Unix time in seconds (TF Serving's and TFX's
    convention), bumped past any version already in `base_directory`, so two
    pushes within one second never collide."""
    latest = latest_version(base_directory)
    version = int(time.time() if now is None else now)
    return str(version if latest is None else max(version, int(latest) + 1))


# Files that identify a SavedModel: the graph, and the variables index, which
# holds a checksum of every variable's value.
_IDENTITY_FILES = (SAVED_MODEL_FILE, os.path.join("variables", "variables.index"))


def latest_version(base_directory: str) -> str | None:
    """The highest numeric version under `base_directory`, or None."""
    fileio = _fs()
    if not fileio.exists(base_directory):
        return None
    versions = [n.rstrip("/") for n in fileio.listdir(base_directory) if n.rstrip("/").isdigit()]
    return max(versions, key=int) if versions else None


def same_model(a: str, b: str) -> bool:
    """Whether two SavedModel directories hold the same graph and variables."""
    fileio = _fs()
    for name in _IDENTITY_FILES:
        pa, pb = os.path.join(a, name), os.path.join(b, name)
        if fileio.exists(pa) != fileio.exists(pb):
            return False
        if fileio.exists(pa):
            with fileio.open(pa, "rb") as fa, fileio.open(pb, "rb") as fb:
                if fa.read() != fb.read():
                    return False
    return True


def _copy_tree(src: str, dst: str) -> None:
    """Copies a directory tree, `saved_model.pb` last."""
    fileio = _fs()
    fileio.makedirs(dst)
    deferred = []
    for dirpath, _, filenames in fileio.walk(src):
        rel = os.path.relpath(dirpath, src)
        target_dir = dst if rel == "." else os.path.join(dst, rel)
        fileio.makedirs(target_dir)
        for name in filenames:
            pair = (os.path.join(dirpath, name), os.path.join(target_dir, name))
            if rel == "." and name == SAVED_MODEL_FILE:
                deferred.append(pair)
            else:
                fileio.copy(*pair, overwrite=True)
    for pair in deferred:
        fileio.copy(*pair, overwrite=True)


def _host() -> str:
    """This host's name as a staging name holds it (no '-', which separates fields)."""
    return socket.gethostname().replace("-", "_") or "host"


def staging_name(version: str) -> str:
    """`.staging-<version>-<host>-<pid>-<random>` for a push from this process."""
    return f"{STAGING_PREFIX}{version}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _is_stale(name: str, path: str, now: float) -> bool:
    """Whether the push that made staging directory `name` is gone."""
    fields = name[len(STAGING_PREFIX) :].split("-")
    if len(fields) == 4 and fields[1] == _host() and fields[2].isdigit():
        pid = int(fields[2])
        return pid != os.getpid() and not _process_alive(pid)
    try:
        age = now - os.path.getmtime(path)
    except OSError:  # an object store keeps no directory times: keep it
        return False
    return age > STALE_AFTER_S


def remove_stale_staging(base_directory: str, now: float | None = None) -> list[str]:
    """Removes the staging directories of pushes that died in `base_directory`.

    Returns:
      The removed paths (each is also logged).
    """
    fileio = _fs()
    if not fileio.exists(base_directory):
        return []
    now = time.time() if now is None else now
    removed = []
    for entry in fileio.listdir(base_directory):
        name = entry.rstrip("/")
        path = os.path.join(base_directory, name)
        if name.startswith(STAGING_PREFIX) and _is_stale(name, path, now):
            fileio.rmtree(path)
            logging.warning("removed %s, left by a push that did not finish", path)
            removed.append(path)
    return removed


@dataclasses.dataclass(frozen=True)
class PushIntent:
    """What a push is about to publish, written before it touches the serving base.

    Attributes:
      version: the version folder the push will create under `base_directory`.
      base_directory: the serving base directory.
      staging: the staging folder's full path (beside the versions).
      pushed_model_uri: the URI of the `PushedModel` output whose LIVE state in
        ML Metadata commits the push.
      model_uri: the SavedModel being pushed (for the log).
      created: Unix time in seconds when the intent was written.
    """

    version: str
    base_directory: str
    staging: str
    pushed_model_uri: str
    model_uri: str
    created: float

    @property
    def version_dir(self) -> str:
        return os.path.join(self.base_directory, self.version)


def intent_path(pushed_model_uri: str) -> str:
    """Where the intent of the push that outputs `pushed_model_uri` is kept:
    beside that output folder, not in it (recovery removes the folders of an
    interrupted execution, and the intent must outlive them)."""
    return pushed_model_uri.rstrip("/") + INTENT_SUFFIX


def write_intent(intent: PushIntent) -> str:
    """Writes `intent` whole (a temporary file renamed into place); returns its path."""
    fileio = _fs()
    path = intent_path(intent.pushed_model_uri)
    fileio.makedirs(os.path.dirname(path))
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fileio.open(tmp, "w") as f:
        f.write(json.dumps(dataclasses.asdict(intent), indent=1))
    fileio.rename(tmp, path, overwrite=True)
    return path


def read_intent(path: str) -> PushIntent:
    """Reads an intent written by `write_intent`.

    Raises:
      ValueError: the file is not an intent (named in the message).
    """
    fileio = _fs()
    with fileio.open(path, "r") as f:
        text = f.read()
    try:
        return PushIntent(**json.loads(text))
    except (json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{path}: not a push intent ({e})") from e


def push_atomically(
    model_dir: str,
    base_directory: str,
    version: str | None = None,
    staging: str | None = None,
) -> str:
    """Publishes `model_dir` as `<base_directory>/<version>/`, all or nothing.

    Args:
      model_dir: a SavedModel directory (must hold saved_model.pb).
      base_directory: the serving base directory (created if missing).
      version: the version name; default `next_version(base_directory)`.
      staging: the staging folder's name under `base_directory`; default
        `staging_name(version)` (pass it when an intent has named it).

    Returns:
      The published path `<base_directory>/<version>`.

    Raises:
      FileNotFoundError: `model_dir` holds no saved_model.pb.
      FileExistsError: the version already exists (nothing is overwritten).
      Any error of the copy; the staging directory is removed first, so
      `base_directory` is left as it was. (A push killed outright leaves it;
      the next push removes it: `remove_stale_staging`.)
    """
    fileio = _fs()
    if not fileio.exists(os.path.join(model_dir, SAVED_MODEL_FILE)):
        raise FileNotFoundError(f"{model_dir} is not a SavedModel: no {SAVED_MODEL_FILE} in it")
    fileio.makedirs(base_directory)
    remove_stale_staging(base_directory)
    version = version or next_version(base_directory)
    final = os.path.join(base_directory, version)
    if fileio.exists(final):
        raise FileExistsError(f"model version {final} already exists; refusing to overwrite it")
    staging = os.path.join(base_directory, staging or staging_name(version))
    try:
        _copy_tree(model_dir, staging)
        fileio.rename(staging, final)
    except BaseException:
        if fileio.exists(staging):
            fileio.rmtree(staging)
        raise
    return final
