"""Atomic writes: a reader never sees a half-written file or folder, and a failed write loses nothing."""
import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary file name beside `path`; it is renamed over `path` only when the block completes.

    On any error (Ctrl-C included) the temporary file is removed and an existing `path` stays as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    usual_mode(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path, text):
    """Write text to path atomically, flushed to disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def replace_dir(new, target):
    """Put the finished folder `new` where `target` is (or is not yet), losing nothing at any moment.

    An existing target is first renamed aside (beside it, `.<name>.<random>.old`), then `new` is renamed in,
    and only then is the old one deleted. If renaming `new` in fails, the old one is renamed back; a crash
    between the two renames leaves both folders on disk under those names.
    """
    old = None
    if os.path.lexists(target):
        old = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(target)),
                               prefix=f".{os.path.basename(target)}.", suffix=".old")
        os.rmdir(old)  # only its free name is wanted
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old:
            os.replace(old, target)
        raise
    if old:
        shutil.rmtree(old, ignore_errors=True)


def usual_mode(path, directory=False):
    """mkstemp/mkdtemp make private files; give the result the permissions a plain open() would."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)
