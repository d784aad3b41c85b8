"""--precision: the processor probe, the refusal where bfloat16 cannot run fast, and real bf16 runs.

The bf16 runs are skipped, with the reason, on a processor without AVX512_BF16 or AMX-BF16; on one that
has them they always run (also under CI=true). The GPU path cannot be run here: only its config is checked.
"""
import io
import re

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tfnotes import checkpoints, inference, precision, training
from tfnotes.errors import ConfigError
from tfnotes.models import MODELS

import mnist_backward
import mnist_test
from benchmarks import onednn_kernels, op_profile

LOSS_LINE = re.compile(r"After (\d+) training step\(s\), loss on training batch is (\d[0-9.eE+-]*?)\.? ")
ACC_LINE = re.compile(r"After (\d+) training step\(s\), test accuracy = ([0-9.]+)")
BF16_READY = precision.cpu_flags() is not None and any(f in precision.cpu_flags() for f in precision.BF16_CPU_FLAGS)
needs_bf16 = pytest.mark.skipif(not BF16_READY, reason="this processor has neither avx512_bf16 nor amx_bf16 in "
                                "/proc/cpuinfo: --precision bf16 refuses to run here (its refusal is tested)")


def losses(text):
    return {int(s): float(v) for s, v in LOSS_LINE.findall(text)}


def train(capsys, model_dir, *flags):
    code = mnist_backward.main(["--model-dir", str(model_dir), "--log-every", "20"] + [str(f) for f in flags])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.fixture
def old_cpu(monkeypatch):
    """A processor without bfloat16 instructions, and no GPU."""
    monkeypatch.setattr(precision, "cpu_flags", lambda path=precision.CPUINFO: frozenset({"sse2", "avx2", "avx512f"}))
    monkeypatch.setattr(precision, "gpu_present", lambda: False)


# ---------------------------------------------------------------------------------------------------------
# The probe and the session config (no training)
# ---------------------------------------------------------------------------------------------------------

def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16 amx_tile\n\n"
                    "processor\t: 1\nflags\t\t: fpu avx2 avx512_bf16 amx_tile\n")
    assert precision.cpu_flags(str(info)) == {"fpu", "avx2", "avx512_bf16", "amx_tile"}
    assert precision.cpu_flags(str(tmp_path / "missing")) is None


def test_fp32_keeps_tensorflows_default_session():
    assert precision.session_config("fp32") is None
    with pytest.raises(ConfigError, match="--precision"):
        precision.session_config("fp16")


def test_bf16_config_on_cpu_and_gpu(monkeypatch):
    from tensorflow.core.protobuf import rewriter_config_pb2
    on = rewriter_config_pb2.RewriterConfig.ON
    monkeypatch.setattr(precision, "cpu_flags", lambda path=precision.CPUINFO: frozenset({"avx512_bf16"}))
    monkeypatch.setattr(precision, "gpu_present", lambda: False)
    monkeypatch.setattr(precision, "onednn_on", lambda: True)
    rewrites = precision.session_config("bf16").graph_options.rewrite_options
    assert rewrites.auto_mixed_precision_onednn_bfloat16 == on and rewrites.auto_mixed_precision != on
    monkeypatch.setattr(precision, "gpu_present", lambda: True)  # not runnable here: only the config
    rewrites = precision.session_config("bf16").graph_options.rewrite_options
    assert rewrites.auto_mixed_precision == on and rewrites.auto_mixed_precision_onednn_bfloat16 != on


def test_bf16_is_refused_on_a_processor_without_it(old_cpu, tmp_path, capsys):
    with pytest.raises(ConfigError, match="avx512_bf16 nor amx_bf16"):
        precision.session_config("bf16")
    model_dir = tmp_path / "model"
    assert mnist_backward.main(["--precision", "bf16", "--model-dir", str(model_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --precision bf16 needs a processor with bfloat16 instructions") and "fp32" in err
    assert not model_dir.exists()  # refused before the model folder is touched
    assert mnist_test.main(["--once", "--precision", "bf16", "--model-dir", str(tmp_path)]) == 1
    assert "avx512_bf16" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="amx_bf16"):
        inference.load_model(model_dir=str(tmp_path), precision="bf16")


def test_bf16_is_refused_without_cpuinfo_or_with_onednn_off(monkeypatch):
    monkeypatch.setattr(precision, "gpu_present", lambda: False)
    monkeypatch.setattr(precision, "cpu_flags", lambda path=precision.CPUINFO: None)
    with pytest.raises(ConfigError, match="cannot read the processor's flags"):
        precision.session_config("bf16")
    monkeypatch.setattr(precision, "cpu_flags", lambda path=precision.CPUINFO: frozenset({"amx_bf16"}))
    monkeypatch.setattr(precision, "onednn_on", lambda: False)
    with pytest.raises(ConfigError, match="oneDNN kernels, which are off"):
        precision.session_config("bf16")


# ---------------------------------------------------------------------------------------------------------
# Real bf16 runs
# ---------------------------------------------------------------------------------------------------------

@needs_bf16
def test_bf16_rewrites_the_products_and_keeps_the_updates_float32(tmp_path):
    args = training.parse_args(MODELS["fc"], vars(mnist_backward), ["--precision", "bf16", "--steps-per-call", "3",
                                                                   "--steps", "1", "--model-dir", str(tmp_path)])
    run = mnist_backward.backward(args, stream=io.StringIO())
    ops = run.ops
    with tf.Session(graph=run.graph, config=precision.session_config("bf16")) as sess:
        sess.run(ops["init"], run.init_feed)
        for fetch, feed in ((ops["train_op"], None), (ops["multi_step"], {ops["multi_steps"]: 2})):
            meta = tf.RunMetadata()
            sess.run(fetch, feed, options=tf.RunOptions(output_partition_graphs=True), run_metadata=meta)
            nodes = [n for g in meta.partition_graphs for n in g.node]
            bf16 = [n for n in nodes if n.attr["T"].type == tf.bfloat16.as_datatype_enum]
            assert any("MatMul" in n.op for n in bf16)  # the rewrite ran, in the plain step and in the loop
            updates = [n.name for n in bf16 if "ExponentialMovingAverage" in n.name or "GradientDescent" in n.name]
            assert not updates  # weights, their updates and the moving averages stay float32
        variables = run.graph.get_collection("variables")
        assert {v.dtype.base_dtype for v in variables} == {tf.float32, tf.int64}  # int64: the global step


@needs_bf16
def test_bf16_checkpoints_go_to_fp32_and_back(tmp_path, capsys):
    out = train(capsys, tmp_path, "--steps", 60, "--precision", "bf16")
    assert "bf16 (oneDNN auto mixed precision)" in out
    assert checkpoints.read_status(str(tmp_path))["config"]["precision"] == "bf16"
    reader = tf.train.load_checkpoint(str(tmp_path / "mnist_model-60"))
    assert set(reader.get_variable_to_dtype_map().values()) <= {tf.float32, tf.int64}  # plain float32 checkpoint
    out = train(capsys, tmp_path, "--steps", 80)  # fp32 resumes a bf16 run
    assert "resumed from step 60" in out and "precision bf16 -> fp32" in out
    out = train(capsys, tmp_path, "--steps", 100, "--precision", "bf16")  # and bf16 an fp32 one
    assert "resumed from step 80" in out and "precision fp32 -> bf16" in out
    assert sorted(losses(out)) == [100] and losses(out)[100] < 1.0
    images = np.random.RandomState(0).rand(50, 784).astype(np.float32)
    with inference.load_model(model_dir=str(tmp_path)) as fp32, \
            inference.load_model(model_dir=str(tmp_path), precision="bf16") as bf16:
        assert fp32.step == bf16.step == 100
        np.testing.assert_allclose(bf16.predict(images), fp32.predict(images), atol=0.05)
    accuracies = []
    for flag in ("fp32", "bf16"):
        assert mnist_test.main(["--once", "--no-report", "--precision", flag, "--model-dir", str(tmp_path)]) == 0
        (step, acc), = ACC_LINE.findall(capsys.readouterr().out)
        accuracies.append(float(acc))
    assert min(accuracies) > 0.8 and abs(accuracies[0] - accuracies[1]) < 0.01


@needs_bf16
def test_bf16_losses_differ_a_little_from_fp32(tmp_path, capsys):
    fp32 = losses(train(capsys, tmp_path / "fp32", "--steps", 40, "--seed", 3))
    bf16 = losses(train(capsys, tmp_path / "bf16", "--steps", 40, "--seed", 3, "--precision", "bf16"))
    assert sorted(fp32) == sorted(bf16) == [20, 40]
    assert fp32 != bf16  # the rewrite changed the arithmetic ...
    for step in fp32:    # ... but not the training
        assert bf16[step] == pytest.approx(fp32[step], rel=0.1)


@needs_bf16
def test_bf16_multi_step_calls_give_the_single_steps_numbers(tmp_path, capsys):
    runs = [losses(train(capsys, tmp_path / str(spc), "--steps", 60, "--precision", "bf16", "--steps-per-call", spc))
            for spc in (1, 100)]
    assert sorted(runs[0]) == [20, 40, 60] and runs[0] == runs[1]
    readers = [tf.train.load_checkpoint(str(tmp_path / str(spc) / "mnist_model-60")) for spc in (1, 100)]
    for name in readers[0].get_variable_to_shape_map():
        np.testing.assert_array_equal(readers[0].get_tensor(name), readers[1].get_tensor(name), err_msg=name)


# --- where a step's time goes (benchmarks/op_profile.py, behind the benchmarks' --profile) ------------------

def test_op_type_reads_the_kernel_from_a_trace_label():
    from tensorflow.core.framework.step_stats_pb2 import NodeExecStats
    assert op_profile.op_type(NodeExecStats(node_name="fc1/MatMul", timeline_label="fc1/MatMul = _MklMatMul(x, w)")) \
        == "_MklMatMul"
    assert op_profile.op_type(NodeExecStats(node_name="_SOURCE")) == "_SOURCE"


def test_op_profile_times_the_matrix_products_of_a_real_step(tmp_path):
    prof = op_profile.profile_steps(mnist_backward, ["--model-dir", str(tmp_path)], 2)
    products = {name: ms for name, ms in prof.items() if "MatMul" in name}
    assert products and all(ms > 0 for ms in products.values())  # forward and backward products were traced
    assert sum(prof.values()) > sum(products.values())  # and the other ops beside them
    assert not list(tmp_path.iterdir())  # nothing is written to the model folder
    lines = []
    op_profile.print_profile({"fp32": prof, "bf16": {"_OnlyInBf16": 0.5}}, top=3, out=lines.append)
    assert lines[1].split() == ["op", "type", "fp32", "bf16"]
    assert ["_OnlyInBf16", "0.00", "0.50"] in [line.split() for line in lines]  # an op that only bf16 ran
    assert lines[-1].split()[:2] == ["all", "ops"] and float(lines[-1].split()[-1]) == 0.5


# --- which oneDNN kernels a step runs (benchmarks/onednn_kernels.py) -----------------------------------------

CONV_LINE = ("onednn_verbose,v1,primitive,exec,cpu,convolution,jit_bf16:avx512_core_bf16,backward_weights,"
             "src:bf16::blocked:acdb::f0 wei:bf16:a:blocked:ABcd16b16a::f0 bia:undef::undef::: "
             "dst:bf16::blocked:acdb::f0,"
             ",alg:convolution_direct,mb100_ic32oc64_ih14oh14kh5sh1dh0ph2_iw14ow14kw5sw1dw0pw2,{ms}")
GEMM_LINE = ("onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ba:f0 wei_f32::blocked:ab:f0 "
             "dst_f32::blocked:ab:f0,,,784x200:200x500,{ms}")


def test_onednn_log_lines_are_summed_by_kernel():
    kernel, ms = onednn_kernels.parse_exec_line(CONV_LINE.format(ms=9.5))
    assert (kernel.kind, kernel.impl, kernel.pass_, kernel.source, ms) == (
        "convolution", "jit_bf16:avx512_core_bf16", "backward_weights", "bf16 acdb", 9.5)
    gemm, _ = onednn_kernels.parse_exec_line(GEMM_LINE.format(ms=0.8))
    assert (gemm.impl, gemm.pass_, gemm.source, gemm.shape) == ("gemm_api", "-", "f32 ba", "784x200:200x500")
    create = CONV_LINE.format(ms=1).replace(",exec,", ",create:cache_miss,")
    assert onednn_kernels.parse_exec_line(create) is None and onednn_kernels.parse_exec_line("steps/s 3.0") is None
    lines = [CONV_LINE.format(ms=t) for t in (30.0, 10.0, 9.0, 11.0)] + [GEMM_LINE.format(ms=0.8)] * 2 + [create]
    rows = onednn_kernels.summarise(lines, steps=2)  # the median leaves out the first call's 30 ms (set-up)
    assert [(r[0].kind, r[1], r[2], r[3]) for r in rows] == [("convolution", 2.0, 10.5, 21.0),
                                                             ("gemm_api", 1.0, 0.8, 0.8)]
    out = []
    onednn_kernels.print_table("t", rows, top=1, out=out.append)
    assert "(1 more kernels)" in out[-2] and out[-1].split()[0] == "21.800"


def test_onednn_kernels_lists_the_products_of_real_training_steps(capsys):
    assert onednn_kernels.main(["--model", "fc", "--precision", "fp32", "--side", "tf", "--steps", "5"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("  ") and "784" in line]
    assert rows, out  # the first layer's products were logged ...
    assert all(float(row[1]) == 1.0 for row in rows), out  # ... once in each of the 25 steps
