"""Tests of basics/: every lesson script runs with few steps, and the numbers the course
published come back to 1e-5."""
import runpy
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from basics import back_propagation, forward_propagation, learning_rate, loss_functions, moving_average, regularization
from basics.opt4_8 import backward, forward, generateds, plotting

TOL = 1e-5
COURSE_W1 = [[-0.8113182, 1.4845988, 0.06532937], [-2.4427042, 0.0992484, 0.5912243]]
COURSE_W2 = [[-0.8113182], [1.4845988], [0.06532937]]


def quiet(*_):
    pass


# ---- 1. forward propagation -------------------------------------------------------------

def test_forward_propagation_prints_course_y_all_three_ways(capsys):
    const, one_row, several = forward_propagation.main([])
    np.testing.assert_allclose(const, [[3.0904665]], atol=TOL)
    np.testing.assert_allclose(one_row, [[3.0904665]], atol=TOL)
    assert several.shape == (4, 1)
    np.testing.assert_allclose(several[0], [3.0904665], atol=TOL)
    assert "3.0904665" in capsys.readouterr().out


def test_forward_weights_are_the_course_weights_and_need_the_default_graph_seed():
    import tensorflow.compat.v1 as tf
    y, w1, w2 = forward_propagation.run(forward_propagation.ONE_ROW, use_placeholder=True)
    np.testing.assert_allclose(w1, COURSE_W1, atol=TOL)
    np.testing.assert_allclose(w2, COURSE_W2, atol=TOL)
    # the op seed alone does not fix the numbers: a graph-level seed changes them
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        w = tf.random_normal([2, 3], stddev=1, seed=1)
        with tf.Session() as sess:
            assert not np.allclose(sess.run(w), COURSE_W1, atol=1e-3)


def test_forward_rejects_rows_of_the_wrong_shape():
    with pytest.raises(ValueError, match="2 features"):
        forward_propagation.run([[0.7, 0.5, 0.1]])


# ---- 2. back propagation ----------------------------------------------------------------

def test_back_propagation_first_losses_match_the_course():
    out = back_propagation.train(steps=501, log=quiet)
    (s0, first), (s500, later) = out["losses"]
    assert (s0, s500) == (0, 500)
    assert abs(first - 5.13118) < TOL
    assert abs(later - 0.429111) < TOL
    np.testing.assert_allclose(out["w1_before"], COURSE_W1, atol=TOL)
    assert not np.allclose(out["w1"], COURSE_W1, atol=1e-3)


def test_back_propagation_final_weights_are_the_published_ones_up_to_round_off():
    # The published w1 after 3000 steps, to the digits printed; today's kernels sum float32 numbers in another
    # order, so the last of about 8 significant digits may differ (basics/README.md says which).
    published = [[-0.7000663, 0.9136318, 0.08953571], [-2.3402493, -0.14641273, 0.58823055]]
    out = back_propagation.train(steps=3000, log=quiet)
    assert [f"{loss:g}" for _, loss in out["losses"]] == ["5.13118", "0.429111", "0.409789", "0.399923", "0.394146",
                                                          "0.390597"]  # as the script prints them (%g)
    np.testing.assert_allclose(out["w1"], published, rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_back_propagation_other_optimizers_lower_the_loss(name):
    out = back_propagation.train(steps=200, optimizer=name, log_every=199, log=quiet)
    (_, first), (_, last) = out["losses"]
    assert last < first


def test_back_propagation_rejects_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        back_propagation.make_optimizer("sgd", 0.1)


# ---- 3. loss functions ------------------------------------------------------------------

def test_sales_data_is_sum_plus_small_noise():
    X, Y = loss_functions.make_sales_data()
    assert X.shape == (32, 2) and Y.shape == (32, 1)
    noise = Y[:, 0] - X.sum(axis=1)
    assert np.all(noise >= -0.05 - 1e-6) and np.all(noise < 0.05 + 1e-6)
    assert noise.std() > 0.01  # the noise is really there


def test_piecewise_loss_charges_cost_above_and_profit_below():
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default(), tf.Session() as sess:
        y = tf.constant([[1.0], [3.0]])
        y_ = tf.constant([[2.0], [2.0]])  # one too few by 1, one too many by 1
        assert sess.run(loss_functions.piecewise_loss(y, y_, cost=1, profit=9)) == pytest.approx(10.0)
        assert sess.run(loss_functions.piecewise_loss(y, y_, cost=9, profit=1)) == pytest.approx(10.0)
        # against [1, 1]: the first prediction is exact, the second is 2 too many at COST 9
        assert sess.run(loss_functions.piecewise_loss(y, y_ - 1, cost=9, profit=1)) == pytest.approx(18.0)


def test_loss_functions_script_runs_each_part(capsys):
    res = loss_functions.main(["--steps", "1000", "--log-every", "500"])
    assert set(res) == {"mse", "custom_1_9", "custom_9_1", "ce"}
    # an expensive shortfall (PROFIT 9) pushes the fit above 1, an expensive surplus (COST 9) below
    assert np.all(res["custom_1_9"] > 1) and np.all(res["custom_9_1"] < 1)
    # MSE is slower (the full 20000 steps reach [0.980, 1.016]) but already moves toward [1, 1]
    start = np.array([[-0.8113182], [1.4845988]])
    assert np.linalg.norm(res["mse"] - 1) < 0.8 * np.linalg.norm(start - 1)
    ce = res["ce"]
    assert ce["w1"].shape == (2, 2)
    assert ce["ce_fused"] == pytest.approx(ce["ce_formula"], abs=1e-5)
    assert ce["accuracy"] > 0.8
    assert capsys.readouterr().out.count("Final w1 is:") == 4


# ---- 4. learning rate -------------------------------------------------------------------

def test_learning_rate_lessons(capsys):
    runs = learning_rate.main(["--steps", "40"])
    assert abs(runs[0.2][-1]["w"] + 1) < 1e-3                      # converges to -1
    assert [h["w"] for h in runs[1.0][:4]] == [-7.0, 5.0, -7.0, 5.0]  # oscillates
    assert runs[0.0001][-1]["w"] > 4.9                             # barely moves
    decay = runs["decay"]
    assert [h["global_step"] for h in decay] == list(range(1, 41))
    np.testing.assert_allclose([h["learning_rate"] for h in decay], 0.1 * 0.99 ** np.arange(40), rtol=1e-5)
    assert decay[0]["w"] == pytest.approx(3.8)  # 5 - 0.1 * 2 * (5 + 1)
    assert "learning rate is 0.067573" in capsys.readouterr().out


# ---- 5. moving average ------------------------------------------------------------------

def test_moving_average_walkthrough_matches_the_course():
    pairs = moving_average.main([])
    course = [[0, 0], [1, 0.9], [10, 1.6445453], [10, 2.3281732], [10, 2.955868],
              [10, 3.532206], [10, 4.061389], [10, 4.547275], [10, 4.9934072]]
    np.testing.assert_allclose(pairs, course, atol=TOL)


def test_moving_average_follows_the_formula_for_another_decay():
    decay = 0.5
    # at global_step 0 the decay is min(0.5, (1 + 0) / (10 + 0)) = 0.1; at 100 it is 0.5
    shadow = [0.0, 0.1 * 0 + 0.9 * 1]
    for _ in range(3):
        shadow.append(0.5 * shadow[-1] + 0.5 * 10)
    got = moving_average.walkthrough(steps=3, decay=decay)
    np.testing.assert_allclose([s for _, s in got], shadow, atol=TOL)


# ---- 6./7. regularization and the modular recipe ----------------------------------------

def test_generateds_labels_the_circle():
    X, Y_, Y_c = generateds.generateds()
    assert X.shape == (300, 2) and Y_.shape == (300, 1) and len(Y_c) == 300
    inside = (X ** 2).sum(axis=1) < 2
    assert np.array_equal(Y_[:, 0] == 1, inside)
    assert Y_c[int(np.argmax(inside))] == "red"


def test_recipe_decays_the_learning_rate_and_saves_png(tmp_path, capsys):
    out = tmp_path / "pics" / "recipe.png"
    result = backward.main(["--steps", "25", "--log-every", "10", "--out", str(out)])
    rates = result["rates"]
    # decay_steps = 300 / 30 = 10: the rate drops once every 10 steps, so global_step counts
    np.testing.assert_allclose(rates, [0.001 * 0.999 ** (i // 10) for i in range(25)], rtol=1e-5)
    assert [h["global_step"] for h in result["history"]] == [1, 11, 21, 25]
    assert all(h["loss_total"] > h["loss_mse"] for h in result["history"])
    assert result["probs"].shape == result["xx"].shape == (600, 600)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 2 * im.height * 0.9
    assert not list(out.parent.glob("*.tmp"))
    assert "learning rate went from 0.001 to 0.000998001" in capsys.readouterr().out


def test_recipe_is_reproducible_for_a_seed():
    a = backward.backward(steps=15, seed=7, log=quiet)
    b = backward.backward(steps=15, seed=7, log=quiet)
    c = backward.backward(steps=15, seed=8, log=quiet)
    np.testing.assert_array_equal(a["probs"], b["probs"])
    assert not np.allclose(a["probs"], c["probs"])


def test_regularization_compares_without_and_with_l2(tmp_path):
    out = tmp_path / "reg.png"
    results, png = regularization.main(["--steps", "20", "--log-every", "10", "--out", str(out)])
    assert png == out.resolve() and out.stat().st_size > 10_000
    without, with_l2 = results["without"], results["with"]
    assert all(h["loss_total"] == h["loss_mse"] for h in without["history"])
    assert all(h["loss_total"] > h["loss_mse"] for h in with_l2["history"])
    np.testing.assert_allclose(without["rates"], 0.0001, rtol=1e-6)  # constant rate in this lesson
    # same seed, same first weights: the losses start equal
    assert without["history"][0]["loss_mse"] == pytest.approx(with_l2["history"][0]["loss_mse"], rel=0.05)


def test_save_figure_refuses_a_folder(tmp_path):
    fig, _ = plotting.new_figure(1)
    with pytest.raises(ValueError, match="is a folder"):
        plotting.save_figure(fig, tmp_path)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="not a writable folder"):
        plotting.check_out_path(blocker / "sub" / "x.png")


def test_forward_collects_l2_only_when_asked():
    import tensorflow.compat.v1 as tf
    for reg, expected in ((None, 0), (0.01, 2)):
        with tf.Graph().as_default():
            forward.forward(tf.placeholder(tf.float32, (None, 2)), reg)
            assert len(tf.get_collection(forward.REG_COLLECTION)) == expected


# ---- command line -----------------------------------------------------------------------

SCRIPTS = ["forward_propagation.py", "back_propagation.py", "loss_functions.py", "learning_rate.py",
           "moving_average.py", "regularization.py", "opt4_8/backward.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_run_as_files_show_help_with_defaults(root, script, monkeypatch, capsys):
    """Run each file the way a student does (python basics/x.py --help), in this process."""
    path = root / "basics" / script
    monkeypatch.syspath_prepend(str(path.parent))
    monkeypatch.setattr(sys, "argv", [str(path), "--help"])
    try:
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(str(path), run_name="__main__")
    finally:  # drop the top-level copies (forward, back_propagation, ...) the file imported
        basics_dir = str(root / "basics")
        for name, module in list(sys.modules.items()):
            if not name.startswith("basics") and str(getattr(module, "__file__", "")).startswith(basics_dir):
                del sys.modules[name]
    assert exit_info.value.code == 0
    assert "default" in capsys.readouterr().out


def test_recipe_command_line(root, tmp_path):
    out = tmp_path / "cli.png"
    proc = subprocess.run([sys.executable, "backward.py", "--steps", "3", "--log-every", "1", "--out", str(out)],
                          cwd=root / "basics" / "opt4_8", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("After ") == 3
    assert out.is_file()


def test_bad_flag_values_are_clear_errors_before_any_training(tmp_path, capsys):
    with pytest.raises(SystemExit):
        backward.parse_args(["--steps", "0"])
    assert "--steps and --log-every must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        regularization.parse_args(["--out", str(tmp_path)])
    assert "is a folder" in capsys.readouterr().err
