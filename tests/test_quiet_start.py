"""A quiet, quick start: --help answers before TensorFlow loads, TensorFlow's start-up lines are dropped (and only
those: a real error, or what a crash writes, still reaches the user), and TFNOTES_TF_LOG=1 shows them again."""
import os
import re
import subprocess
import sys

import pytest

from tfnotes import tfenv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ["mnist_backward.py", "mnist_test.py", "mnist_app.py", "mnist_generateds.py", "mnist_export.py",
           "lenet5/mnist_lenet5_backward.py", "lenet5/mnist_lenet5_test.py", "vgg16/app.py",
           "basics/forward_propagation.py", "basics/back_propagation.py", "basics/loss_functions.py",
           "basics/learning_rate.py", "basics/moving_average.py", "basics/regularization.py",
           "basics/opt4_8/backward.py"]
HELP_THEN_LIST = ("import os, runpy, sys\n"
                  "script = sys.argv[1]\n"
                  "sys.argv = [script, '--help']\n"
                  "sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python script` has it\n"
                  "try:\n"
                  "    runpy.run_path(script, run_name='__main__')\n"
                  "except SystemExit as e:\n"
                  "    assert e.code in (0, None), e.code\n"
                  "print('loaded:', sorted(m for m in ('tensorflow', 'matplotlib') if m in sys.modules))\n")
# A TensorFlow start-up line as TensorFlow 2.21 writes it, and one it does not write.
NOISE_LINE = ("I0000 00:00:1796283622.928722    4822 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
              "GPU will not be used.")


def run(args, env=None, **kw):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, **kw)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_answers_before_tensorflow_and_matplotlib_load(script):
    proc = run(["-c", HELP_THEN_LIST, script])
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and proc.stdout.rstrip().endswith("loaded: []"), proc.stdout[-300:]
    assert "default: None" not in " ".join(proc.stdout.split())  # a default is said in words
    assert proc.stderr == ""


def test_the_app_prints_the_answer_and_nothing_else(small_fc_model):
    proc = run(["mnist_app.py", "--model-dir", small_fc_model, "pic/3.png"], env={"TFNOTES_TF_LOG": ""})
    assert proc.returncode == 0
    assert proc.stdout.startswith("pic/3.png: ") and proc.stdout.count("\n") == 1
    assert proc.stderr == ""


def test_tfnotes_tf_log_shows_tensorflow_lines_again(small_fc_model):
    proc = run(["mnist_app.py", "--model-dir", small_fc_model, "pic/3.png"], env={"TFNOTES_TF_LOG": "1"})
    assert proc.returncode == 0 and proc.stdout.startswith("pic/3.png: ")
    noise = [line for line in proc.stderr.splitlines() if any(re.fullmatch(p, line) for p in tfenv.NOISE)]
    assert noise, proc.stderr  # TensorFlow's own start-up lines, as it writes them


FILTERED = ("import os, sys\n"
            "from tfnotes import tfenv\n"
            "with tfenv._Filtered():\n"
            "    os.write(2, sys.argv[1].encode() + b'\\n')\n"
            "    os.write(2, b'a real error\\n')\n"
            "    if sys.argv[2] == 'crash':\n"
            "        os.write(2, b'fatal: about to crash\\n')\n"
            "        os.abort()\n"
            "os.write(2, b'after the window\\n')\n")


def test_the_filter_drops_only_the_start_up_lines():
    proc = run(["-c", FILTERED, NOISE_LINE, "go on"], env={"TFNOTES_TF_LOG": ""})
    assert proc.returncode == 0
    assert proc.stderr == "a real error\nafter the window\n"


def test_what_a_crash_writes_still_reaches_the_user():
    proc = run(["-c", FILTERED, NOISE_LINE, "crash"], env={"TFNOTES_TF_LOG": ""})
    assert proc.returncode != 0
    assert "a real error\nfatal: about to crash\n" in proc.stderr and NOISE_LINE not in proc.stderr


def test_graph_builders_are_bound_at_once_and_run_on_first_use():
    proc = run(["-c", "import sys\nfrom tfnotes import tfenv\nimport mnist_forward\n"
                      "print('tensorflow' in sys.modules)\n"
                      "print(mnist_forward.INPUT_NODE, 'tensorflow' in sys.modules)\n"])
    assert proc.stdout.split() == ["False", "784", "True"], proc.stderr
