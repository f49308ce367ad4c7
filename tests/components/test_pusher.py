"""Pushing: a model appears in the serving directory only when blessed, and
never as a half-copied directory."""

import json
import os

import pytest
from tfx.components.pusher import executor as stock_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from frontier.components.pusher import next_version, push_atomically
from frontier.components.pusher import push as push_module
from frontier.components.pusher.executor import AtomicPushExecutor


def _fake_saved_model(root):
    model = root / "model" / "Format-Serving"
    if model.exists():
        return root / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    for i in range(3):
        (model / "variables" / f"variables.data-0000{i}-of-00003").write_bytes(bytes([i]) * 100)
    (model / "variables" / "variables.index").write_bytes(b"index")
    return root / "model"


def _tree(path):
    return sorted(
        os.path.relpath(os.path.join(d, f), path) for d, _, files in os.walk(path) for f in files
    )


def _run(executor, tmp_path, blessed: bool, dest, as_path: bool = False, pushed_uri=None):
    model = standard_artifacts.Model()
    model.uri = str(_fake_saved_model(tmp_path))
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(pushed_uri or tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(dest))
    )
    executor.Do(
        {"model": [model], "model_blessing": [blessing]},
        {"pushed_model": [pushed]},
        {
            # A compiled pipeline's runtime parameter passes the directory itself.
            "push_destination": str(dest) if as_path else proto_utils.proto_to_json(destination),
            "custom_config": json.dumps({}),
        },
    )
    return pushed


def test_unblessed_model_is_not_pushed(tmp_path):
    dest = tmp_path / "serving"
    pushed = _run(AtomicPushExecutor(), tmp_path, blessed=False, dest=dest)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not dest.exists() or not os.listdir(dest)


def test_blessed_model_is_pushed_whole(tmp_path):
    dest = tmp_path / "serving"
    pushed = _run(AtomicPushExecutor(), tmp_path, blessed=True, dest=dest)
    assert pushed.get_int_custom_property("pushed") == 1
    versions = os.listdir(dest)
    assert len(versions) == 1 and versions[0].isdigit()
    assert pushed.get_string_custom_property("pushed_version") == versions[0]
    src = tmp_path / "model" / "Format-Serving"
    assert _tree(dest / versions[0]) == _tree(src)
    assert (dest / versions[0] / "variables" / "variables.index").read_bytes() == b"index"


def test_second_push_in_the_same_second_gets_a_new_version(tmp_path):
    dest = tmp_path / "serving"
    model = _fake_saved_model(tmp_path) / "Format-Serving"
    first = push_atomically(str(model), str(dest), version=next_version(str(dest), now=1000))
    second = push_atomically(str(model), str(dest), version=next_version(str(dest), now=1000))
    assert (os.path.basename(first), os.path.basename(second)) == ("1000", "1001")
    with pytest.raises(FileExistsError, match="1000"):
        push_atomically(str(model), str(dest), version="1000")


def test_not_a_saved_model_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        push_atomically(str(tmp_path / "empty"), str(tmp_path / "serving"))


class _CopyFailsAfter:
    """fileio.copy that raises on its n-th call, like a crash mid-copy."""

    def __init__(self, n):
        self.n, self.calls, self.real = n, 0, fileio.copy

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n:
            raise OSError("disk went away")
        return self.real(*args, **kwargs)


def test_interrupted_push_leaves_no_version(tmp_path, monkeypatch):
    dest = tmp_path / "serving"
    monkeypatch.setattr(push_module._fs(), "copy", _CopyFailsAfter(3))
    with pytest.raises(OSError, match="disk went away"):
        _run(AtomicPushExecutor(), tmp_path, blessed=True, dest=dest)
    # Nothing a server could load, and no staging left behind.
    assert os.listdir(dest) == []


def test_a_killed_push_leaves_staging_that_the_next_push_removes(tmp_path):
    import subprocess
    import sys
    import time

    dest = tmp_path / "serving"
    dest.mkdir()
    # A push killed outright: its process made the staging directory and died
    # (os._exit, as a SIGKILL, runs no clean-up).
    code = (
        "import os, sys; from frontier.components.pusher import push; "
        "path = os.path.join(sys.argv[1], push.staging_name('7')); "
        "os.makedirs(os.path.join(path, 'variables')); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(dest)], check=True)
    (dead,) = os.listdir(dest)
    # One of an older frontier (no host or pid in its name), a day old ...
    old = dest / ".staging-5-0123abcd"
    old.mkdir()
    os.utime(old, (time.time() - 86_400, time.time() - 86_400))
    # ... and one that may be another machine's push still copying: kept.
    recent = dest / ".staging-6-otherhost-12-0123abcd"
    recent.mkdir()

    _run(AtomicPushExecutor(), tmp_path, blessed=True, dest=dest)
    left = sorted(os.listdir(dest))
    assert dead not in left and old.name not in left
    assert recent.name in left and len([n for n in left if n.isdigit()]) == 1


def test_stock_pusher_would_leave_a_half_copied_version(tmp_path, monkeypatch):
    """Why the stock executor is wrapped: the same fault leaves a partial version."""
    dest = tmp_path / "serving"
    from tfx.utils import io_utils

    monkeypatch.setattr(io_utils, "copy_file", _CopyFailsAfter(3))
    monkeypatch.setattr(fileio, "copy", _CopyFailsAfter(3))
    with pytest.raises(OSError):
        _run(stock_executor.Executor(), tmp_path, blessed=True, dest=dest)
    versions = [v for v in os.listdir(dest) if v.isdigit()]
    assert versions, "stock Pusher left no version directory"
    src = tmp_path / "model" / "Format-Serving"
    assert _tree(dest / versions[0]) != _tree(src)


def test_same_model_blessed_again_is_not_pushed_twice(tmp_path):
    dest = tmp_path / "serving"
    first = _run(AtomicPushExecutor(), tmp_path, blessed=True, dest=dest)
    again = _run(AtomicPushExecutor(), tmp_path, blessed=True, dest=dest)
    assert os.listdir(dest) == [first.get_string_custom_property("pushed_version")]
    assert again.get_int_custom_property("pushed") == 1
    assert again.get_string_custom_property("pushed_version") == first.get_string_custom_property(
        "pushed_version"
    )
    # A different model (changed variables) is a new version.
    (tmp_path / "model" / "Format-Serving" / "variables" / "variables.index").write_bytes(b"other")
    _run(AtomicPushExecutor(), tmp_path, blessed=True, dest=dest)
    assert len(os.listdir(dest)) == 2


def test_push_destination_may_be_the_directory_itself(tmp_path):
    dest = tmp_path / "serving"
    pushed = _run(AtomicPushExecutor(), tmp_path, blessed=True, dest=dest, as_path=True)
    assert pushed.get_int_custom_property("pushed") == 1
    (version,) = os.listdir(dest)
    assert pushed.get_string_custom_property("pushed_destination") == str(dest / version)


def _store(root):
    """A run root's ML Metadata store, made if absent (as the launcher does)."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    config = mlmd_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(root / "metadata.sqlite")
    config.sqlite.connection_mode = mlmd_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def _record(store, pushed, state):
    """What the launcher publishes for `pushed` once the executor returned."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    type_id = store.put_artifact_type(mlmd_pb2.ArtifactType(name="PushedModel"))
    artifact = mlmd_pb2.Artifact(type_id=type_id, uri=pushed.uri, state=state)
    for key in ("pushed", "pushed_version", "pushed_destination"):
        value = pushed.get_custom_property(key)
        field = "int_value" if isinstance(value, int) else "string_value"
        setattr(artifact.custom_properties[key], field, value)
    store.put_artifacts([artifact])


def _push_in_pipeline(tmp_path, dest, execution_id: int):
    """A push whose output lies where TFX puts it: `<pipeline root>/<node>/<key>/<id>`."""
    out = tmp_path / "root" / "pipelines" / "p" / "Pusher" / "pushed_model" / str(execution_id)
    pushed = _run(AtomicPushExecutor(), tmp_path, blessed=True, dest=dest, pushed_uri=out)
    return pushed, tmp_path / "root"


def test_a_push_killed_before_its_record_is_rolled_back(tmp_path):
    from frontier.pipelines import recovery

    dest = tmp_path / "serving"
    # The executor returned (the version is in place); the process died before
    # the launcher recorded the PushedModel: no LIVE record names the version.
    pushed, root = _push_in_pipeline(tmp_path, dest, 7)
    version_dir = pushed.get_string_custom_property("pushed_destination")
    intent = push_module.intent_path(pushed.uri)
    assert os.path.isdir(version_dir) and os.path.exists(intent)
    assert push_module.read_intent(intent).version_dir == version_dir
    _store(root)

    (outcome,) = recovery.reconcile_pushes(
        str(root / "metadata.sqlite"), str(root / "pipelines" / "p")
    )
    assert not outcome.committed and outcome.removed == (version_dir,)
    assert os.listdir(dest) == [] and not os.path.exists(intent)


def test_a_recorded_push_is_kept_and_its_intent_dropped(tmp_path):
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    from frontier.pipelines import recovery

    dest = tmp_path / "serving"
    pushed, root = _push_in_pipeline(tmp_path, dest, 7)
    _record(_store(root), pushed, mlmd_pb2.Artifact.LIVE)

    (outcome,) = recovery.reconcile_pushes(
        str(root / "metadata.sqlite"), str(root / "pipelines" / "p")
    )
    assert outcome.committed and outcome.removed == ()
    assert os.listdir(dest) == [pushed.get_string_custom_property("pushed_version")]
    assert not os.path.exists(push_module.intent_path(pushed.uri))


def test_a_rollback_keeps_a_version_that_a_record_names(tmp_path):
    """An unrecorded push never removes what a recorded push serves, and a
    push killed mid-copy loses only its staging folder."""
    from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

    from frontier.pipelines import recovery

    dest = tmp_path / "serving"
    first, root = _push_in_pipeline(tmp_path, dest, 7)
    store = _store(root)
    _record(store, first, mlmd_pb2.Artifact.LIVE)
    # A second push that names the first's version (as a crafted or stale
    # intent could), and whose staging folder a kill left half-copied.
    staging = dest / ".staging-9-host-1-abc"
    (staging / "variables").mkdir(parents=True)
    second = first.get_string_custom_property("pushed_version")
    uri = os.path.join(os.path.dirname(first.uri), "8")
    push_module.write_intent(
        push_module.PushIntent(second, str(dest), str(staging), uri, "model", 0.0)
    )

    outcomes = recovery.reconcile_pushes(
        str(root / "metadata.sqlite"), str(root / "pipelines" / "p")
    )
    assert [o.committed for o in outcomes] == [True, False]
    assert outcomes[1].removed == (str(staging),)
    assert os.listdir(dest) == [second]
