"""TensorFlow's environment, set up once, and TensorFlow itself, loaded on first use and quietly.

Every script and module of the project takes TensorFlow from here (`from tfnotes.tfenv import tf`: the
TF1 API, tensorflow.compat.v1; `tf2`: TensorFlow 2's own), for three reasons:

- the settings below must come before TensorFlow is imported, whichever script starts;
- TensorFlow takes seconds to load. `tf` and `tf2` load it on first use, and so do the graph builders
  (mnist_forward.py, lenet5/mnist_lenet5_forward.py, which import it), so that `--help` and a bad flag
  answer at once;
- loading prints start-up lines on stderr that say nothing to a student, even with TF_CPP_MIN_LOG_LEVEL=3:
  two shared libraries (libtensorflow_framework.so.2, then _pywrap_tensorflow_internal.so) each log before
  logging is set up ("WARNING: All log messages before absl::InitializeLog() ...", oneDNN is on, no CUDA
  drivers), so each line comes twice, and the first device lookup adds "failed call to cuInit" where there
  is no GPU. While TensorFlow loads, stderr passes through a filter *process* that drops exactly those
  lines (NOISE) and passes on everything else. Being another process, it still passes on what a crash
  during loading writes. TFNOTES_TF_LOG=1 turns the filter off and shows all of TensorFlow's lines.
"""
import importlib
import importlib.util
import os
import subprocess
import sys
import threading
import types

# TensorFlow's C++ messages below warnings are not for students (TFNOTES_TF_LOG=1 shows them all).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if os.environ.get("TFNOTES_TF_LOG") == "1" else "2")
# oneDNN kernels roughly double LeNet-5 training speed on x86 CPUs where TensorFlow leaves them off
# by default; it must be set before TensorFlow is imported. TF_ENABLE_ONEDNN_OPTS=0 turns it off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# TensorFlow's start-up lines, dropped while it loads; any other line passes.
NOISE = (r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
         r"I0000 \S+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\. .*",
         r"I0000 \S+ +\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\.",
         r"I0000 \S+ +\d+ cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use available CPU .*",
         r"To enable the following instructions: .*, in other operations, rebuild TensorFlow with the appropriate "
         r"compiler flags\.",
         r"E0000 \S+ +\d+ cuda_(platform|executor|diagnostics)\.cc:\d+\] failed call to cuInit: .*")
# The filter process: reads the lines TensorFlow writes to stderr and passes on all but NOISE.
FILTER = ("import re, sys\n"
          "noise = re.compile('|'.join('(?:%s)' % p for p in sys.argv[1:]))\n"
          "for line in sys.stdin.buffer:\n"
          "    if not noise.fullmatch(line.decode('utf-8', 'replace').rstrip('\\r\\n')):\n"
          "        sys.stderr.buffer.write(line)\n"
          "        sys.stderr.buffer.flush()\n")
GRAPH_BUILDERS = ("mnist_forward", "lenet5.mnist_lenet5_forward")

_loaded = {}
_lock = threading.RLock()


class _Filtered:
    """`with _Filtered():` file descriptor 2 goes through the filter process; afterwards it is as before."""

    def __enter__(self):
        self.child = None
        if os.name != "posix" or os.environ.get("TFNOTES_TF_LOG") == "1":
            return self
        sys.stderr.flush()
        self.saved = os.dup(2)
        read, write = os.pipe()
        try:
            self.child = subprocess.Popen([sys.executable, "-I", "-S", "-c", FILTER, *NOISE], stdin=read,
                                          stdout=subprocess.DEVNULL, stderr=self.saved)
        except OSError:  # no filter then: TensorFlow's lines show, nothing is lost
            os.close(self.saved)
            os.close(read)
            os.close(write)
            return self
        os.close(read)
        os.dup2(write, 2)
        os.close(write)
        return self

    def __exit__(self, *exc):
        if self.child is not None:
            sys.stderr.flush()
            os.dup2(self.saved, 2)  # the pipe's last writer closes: the filter passes on the rest and ends
            os.close(self.saved)
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.child.kill()
        return False


def load():
    """(tensorflow.compat.v1, tensorflow): imported once, quietly (see the module's docstring)."""
    with _lock:
        if not _loaded:
            with _Filtered():
                real_tf2 = importlib.import_module("tensorflow")
                real_tf = importlib.import_module("tensorflow.compat.v1")
                real_tf2.config.list_physical_devices()  # the first device lookup: its cuInit line, filtered too
            real_tf.get_logger().setLevel("ERROR")  # TF's own deprecation notices are not for students either
            _loaded.update(tf=real_tf, tf2=real_tf2)
        return _loaded["tf"], _loaded["tf2"]


class _OnFirstUse(types.ModuleType):
    """A stand-in for a TensorFlow module that loads TensorFlow when one of its names is first used."""

    def __init__(self, which):
        super().__init__(f"tfnotes.tfenv.{which}")
        self._which = which

    def __getattr__(self, name):
        value = getattr(load()[0 if self._which == "tf" else 1], name)
        setattr(self, name, value)  # the next use finds it here
        return value

    def __dir__(self):
        return dir(load()[0 if self._which == "tf" else 1])


class _Deferred(types.ModuleType):
    """A graph builder, bound by `import` at once and run on first use, after TensorFlow has loaded quietly.

    (importlib's LazyLoader would do, but on Python 3.11 the `import` statement itself reads the module's
    __spec__, which makes it run at once.)"""

    def __getattr__(self, name):
        with _lock:
            if not self.__dict__.get("_ran"):
                if name.startswith("__"):  # an import machinery's probe (__path__, ...): not a reason to run
                    raise AttributeError(name)
                self.__dict__["_ran"] = True
                load()
                self.__spec__.loader.exec_module(self)
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None


def _defer(name):
    """`import name` binds a _Deferred module. Nothing is done where it is already imported or cannot be found."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


tf = _OnFirstUse("tf")
tf2 = _OnFirstUse("tf2")
for _name in GRAPH_BUILDERS:
    _defer(_name)

__all__ = ["tf", "tf2", "load"]
