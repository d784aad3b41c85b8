"""Where a training step's time goes: the time of each kind of op, from TensorFlow's own step trace.

Used by bench_fc.py and bench_lenet5.py (--profile N): it builds the script's real training graph
(its backward(), for one step, one step per call), runs a few untraced steps, then N traced ones, and
sums each op type's time per step. The op types are those that ran, after TensorFlow's rewrites:
oneDNN's kernels show as _Mkl..., and the bf16 rewrite's conversions as Cast. Ops on two threads overlap,
so the sum of op times is more than the wall time of a step.
"""
import collections
import io
import tempfile

from tfnotes import training
from tfnotes.tfenv import tf

UNTRACED = 20  # steps first run without a trace: oneDNN builds and caches its kernels on the first ones


def op_type(node_stats):
    """'MatMul' from a trace entry's label 'fc1/MatMul = _MklMatMul(x, w)' (its node name when it has none)."""
    label = node_stats.timeline_label
    if "=" not in label:
        return node_stats.node_name
    return label.split("=", 1)[1].split("(", 1)[0].strip()


def profile_steps(script, argv, traced):
    """{op type: ms per step} over `traced` traced training steps of the training script `script`'s graph.

    argv: the script's flags. The graph is built by one step of backward() in a temporary folder, then run afresh.
    """
    with tempfile.TemporaryDirectory() as model_dir:
        args = training.parse_args(script.MODEL, vars(script), list(argv) + ["--steps", "1", "--steps-per-call", "1",
                                                                             "--model-dir", model_dir])
        run = script.backward(args, stream=io.StringIO())
    ops, feed_fn = run.ops, run.feed_fn
    feed = (lambda: feed_fn(sess)) if feed_fn else (lambda: None)  # --feed: each step's batch as feed_dict
    micros = collections.Counter()
    with tf.Session(graph=run.graph, config=run.session_config) as sess:
        sess.run(ops["init"], run.init_feed)
        for _ in range(UNTRACED):
            sess.run(ops["train_op"], feed())
        options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
        for _ in range(traced):
            metadata = tf.RunMetadata()
            sess.run(ops["train_op"], feed(), options=options, run_metadata=metadata)
            for device in metadata.step_stats.dev_stats:
                for node in device.node_stats:
                    micros[op_type(node)] += node.all_end_rel_micros
    return {name: total / traced / 1000 for name, total in micros.items()}


def print_profile(by_precision, top=12, out=print):
    """A table of ms per step in each precision: the `top` op types by time of every precision, slowest first."""
    precs = list(by_precision)
    names = {n for prof in by_precision.values() for n in sorted(prof, key=prof.get, reverse=True)[:top]}
    names = sorted(names, key=lambda n: -max(prof.get(n, 0.0) for prof in by_precision.values()))
    out("op time per step, ms: summed over the ops of a type; ops on two threads overlap, so the sum of all "
        "exceeds a step's wall time")
    out(f"  {'op type':36s}" + "".join(f"{p:>10s}" for p in precs))
    for name in names:
        out(f"  {name:36s}" + "".join(f"{by_precision[p].get(name, 0.0):10.2f}" for p in precs))
    out(f"  {'all ops':36s}" + "".join(f"{sum(by_precision[p].values()):10.2f}" for p in precs))
