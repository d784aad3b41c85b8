"""Typed exceptions of the library.

Each carries a message that names the file or value and says what to do. Library code raises
them; only a script's main() turns them into a message and an exit code (`exit_code`).
"""


class CourseError(Exception):
    """Base class: an expected failure with a message for the user (not a bug)."""

    exit_code = 1

    def report(self):
        """The line a script's main() prints on stderr."""
        return f"error: {self}"


class DataError(CourseError, ValueError):
    """A data file is missing, damaged or malformed. The message names the file and the fix."""


class ImageError(CourseError, ValueError):
    """A picture that cannot be used; the message names the file and what to do."""


class ConfigError(CourseError, ValueError):
    """A setting (flag value) that cannot work; the message names the flag."""


class TrainingError(CourseError, RuntimeError):
    """Training cannot start or go on (another run owns the folder, a foreign checkpoint, the loss diverged)."""


class TrainingInterrupted(CourseError):
    """Ctrl-C before the training loop ran, or a second Ctrl-C while it was saving."""

    exit_code = 130

    def __init__(self):
        super().__init__("interrupted; the last complete checkpoint (if any) is kept.")

    def report(self):
        return f"\n{self}"


class NoCheckpointError(CourseError, FileNotFoundError):
    """No usable checkpoint in a model folder."""


class UnreadableCheckpoints(NoCheckpointError):
    """Checkpoints are there, but every one of them is damaged (each is named in a warning before)."""

    exit_code = 2


class CheckpointMismatchError(CourseError, ValueError):
    """A checkpoint that exists but does not restore into the network (another model, or damaged)."""

    exit_code = 2


class ModelError(CourseError, RuntimeError):
    """The network cannot be loaded (unknown model, no checkpoint, wrong checkpoint)."""

    exit_code = 2
