"""Checkpoints, the status file and the model folder.

A model folder holds the Saver's checkpoints, `train_status.json` (what the training is doing,
written atomically so mnist_test.py can follow it) and, after --fresh, earlier runs in previous/.
"""
import datetime
import json
import os
import socket
import sys

from tfnotes.atomic import atomic_write_text
from tfnotes.errors import CheckpointMismatchError, NoCheckpointError, TrainingError, UnreadableCheckpoints
from tfnotes.tfenv import tf

STATUS_FILE = "train_status.json"
PREVIOUS_DIR = "previous"


def checkpoint_step(path):
    """The global step in a checkpoint name like .../mnist_model-1000 (None if it has none)."""
    tail = os.path.basename(path).rsplit("-", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def _files_present(path):
    folder, base = os.path.split(path)
    if not os.path.isfile(path + ".index"):
        return False
    try:
        return any(name.startswith(base + ".data-") for name in os.listdir(folder))
    except OSError:
        return False


def get_checkpoint_state(model_dir):
    """tf.train.get_checkpoint_state(model_dir), the Saver's `checkpoint` file; None when there is none, and
    also (with a warning naming it) when that file is damaged."""
    try:
        return tf.train.get_checkpoint_state(model_dir)
    except (ValueError, UnicodeDecodeError, tf.errors.OpError) as e:
        print(f"warning: cannot read {os.path.join(model_dir, 'checkpoint')}: {e}", file=sys.stderr)
        return None


def checkpoint_paths(state, model_dir):
    """The complete checkpoints a CheckpointState lists (None: none), newest first.

    Only what the Saver's `checkpoint` file lists counts: the Saver rewrites that file (atomically)
    after a checkpoint's data and index are fully written, so a save cut short by SIGKILL is never
    listed. Files that have meanwhile disappeared are left out.
    """
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    paths = [p if os.path.isabs(p) else os.path.join(model_dir, p) for p in paths]
    paths = [p for p in paths if checkpoint_step(p) is not None and _files_present(p)]
    return sorted(paths, key=checkpoint_step, reverse=True)


def list_checkpoints(model_dir):
    """Complete checkpoints in model_dir, newest first (see checkpoint_paths)."""
    return checkpoint_paths(get_checkpoint_state(model_dir), model_dir)


def read_status(model_dir):
    """The training status dict of model_dir, or {} when there is none (or it is unreadable)."""
    try:
        with open(os.path.join(model_dir, STATUS_FILE), encoding="utf-8") as f:
            status = json.load(f)
        return status if isinstance(status, dict) else {}
    except (OSError, ValueError):
        return {}


def write_status(model_dir, **fields):
    fields.update(pid=os.getpid(), host=socket.gethostname(),
                  updated=datetime.datetime.now().isoformat(timespec="seconds"))
    atomic_write_text(os.path.join(model_dir, STATUS_FILE), json.dumps(fields, indent=1, sort_keys=True) + "\n")


def training_alive(status):
    """True while the status says "running" and its process still exists on this machine."""
    if status.get("status") != "running" or status.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(status.get("pid", -1)), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def move_aside(model_dir):
    """Move everything in model_dir (but earlier moved runs) into previous/<time>/; returns that folder or None."""
    entries = [e for e in sorted(os.listdir(model_dir)) if e != PREVIOUS_DIR]
    if not entries:
        return None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = os.path.join(model_dir, PREVIOUS_DIR, stamp)
    n = 1
    while os.path.exists(dest):
        n += 1
        dest = os.path.join(model_dir, PREVIOUS_DIR, f"{stamp}-{n}")
    os.makedirs(dest)
    for e in entries:
        os.replace(os.path.join(model_dir, e), os.path.join(dest, e))
    return dest


def prepare_model_dir(model_dir, fresh, stream):
    """Create the folder; refuse a folder another live training writes to; with `fresh` move the old run aside.

    Returns the status the folder had before.
    """
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as e:
        raise TrainingError(f"cannot create the model folder {model_dir}: {e}") from None
    status = read_status(model_dir)
    if training_alive(status) and int(status["pid"]) != os.getpid():
        raise TrainingError(f"another training (pid {status['pid']}) is writing to {model_dir}; stop it first or "
                            "choose another --model-dir")
    if fresh:
        dest = move_aside(model_dir)
        if dest:
            print(f"--fresh: moved the previous run to {dest}", file=stream)
    return status



def check_compatible(path, var_list, model_dir, spec):
    """TrainingError with a clear message when the checkpoint was written by another network."""
    shapes = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    for v in var_list:
        name = v.op.name
        if name not in shapes or list(shapes[name]) != v.shape.as_list():
            what = "is missing" if name not in shapes else f"has shape {shapes[name]} not {v.shape.as_list()}"
            raise TrainingError(
                f"the checkpoint {path} does not fit the {spec.name} model ({name} {what}). It was written by "
                "another network or other settings. Use another --model-dir, or --fresh to start afresh (the old "
                f"run is moved to {os.path.join(model_dir, PREVIOUS_DIR)}/).")


class CheckpointVanished(Exception):
    """The checkpoint's files disappeared (the Saver deleted an old one) between listing and restoring."""


class DamagedCheckpoint(Exception):
    """A checkpoint whose files exist but cannot be read (truncated, corrupted, a data file missing)."""


def restore_error(path, error, spec):
    """The exception that says why saver.restore(sess, path) failed with `error` (a TensorFlow error).

    CheckpointVanished: its files are gone. DamagedCheckpoint: they are there but unreadable.
    CheckpointMismatchError: it is readable but holds another network's variables.
    """
    if not os.path.exists(path + ".index"):  # (Saver.restore raises ValueError for a missing checkpoint)
        return CheckpointVanished(path)
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines() if line.strip()]
    # TensorFlow's message ends with the reason, then the node: "... Read less bytes than requested / [[{{node ...".
    reason = next((line for line in reversed(lines) if not line.startswith("[[")), type(error).__name__)
    mismatch = (isinstance(error, tf.errors.NotFoundError) and "not found in checkpoint" in reason) or \
        isinstance(error, tf.errors.InvalidArgumentError) and "shape" in reason.lower()
    if not mismatch:
        return DamagedCheckpoint(f"{path} is damaged ({reason})")
    return CheckpointMismatchError(
        f"{path} cannot be restored into the {spec.name} model ({reason}). It was written by another network: "
        f"train this model with {spec.train_command} (--fresh to start afresh).")


def restore(saver, sess, path, spec):
    """saver.restore with clear errors: CheckpointVanished, DamagedCheckpoint or CheckpointMismatchError."""
    try:
        with sess.graph.as_default():  # outside it, TF2's Saver.restore would run eagerly
            saver.restore(sess, path)
    except (tf.errors.OpError, ValueError) as e:
        raise restore_error(path, e, spec) from None


class Attempt:
    """`with attempt: saver.restore(sess, path) ...`: a checkpoint deleted or damaged meanwhile is reported and
    the block is skipped (the caller goes on to an older one); another network's checkpoint raises
    CheckpointMismatchError. Made by newest_first()."""

    def __init__(self, path, spec, tried, stream):
        self.path, self.spec, self.tried, self.stream = path, spec, tried, stream

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None:
            if self.tried:
                print(f"warning: using the checkpoint of step {checkpoint_step(self.path)} ({self.path}), the newest "
                      "readable one", file=self.stream)
            return False
        if not isinstance(error, (tf.errors.OpError, ValueError, CheckpointVanished, DamagedCheckpoint)):
            return False
        if not isinstance(error, (CheckpointVanished, DamagedCheckpoint)):
            error = restore_error(self.path, error, self.spec)
        if isinstance(error, CheckpointMismatchError):
            raise error from None
        if isinstance(error, DamagedCheckpoint):
            print(f"warning: {error}; trying an older checkpoint", file=self.stream)
        else:
            print(f"note: {self.path} was deleted before it could be read; trying an older checkpoint",
                  file=self.stream)
        self.tried.append(self.path)
        return True


def newest_first(paths, spec, model_dir, stream=None, required=True):
    """(path, attempt) for each checkpoint in `paths` (newest first): restore inside `with attempt:`, and stop
    at the first that works. A damaged or vanished one is reported and the next older one follows.

    When none could be restored: NoCheckpointError naming the folder and the training command (required),
    or nothing more (not required: the caller starts afresh).
    """
    stream = stream or sys.stderr
    tried = []
    for path in paths:
        yield path, Attempt(path, spec, tried, stream)
    if required and tried:
        raise UnreadableCheckpoints(no_checkpoint_message(spec, model_dir, "no readable checkpoint") +
                                    f"; the {len(tried)} there cannot be read (named above)")
    if required:
        raise NoCheckpointError(no_checkpoint_message(spec, model_dir))


def no_checkpoint_message(spec, model_dir, what=None):
    own = os.path.abspath(model_dir) == os.path.abspath(spec.model_dir)
    where = "" if own else f" --model-dir {model_dir}"
    return f"{what or 'no checkpoint'} in {model_dir}: run training first ({spec.train_command}{where})"
