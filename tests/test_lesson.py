"""The lesson scripts teach the course's recipe (八股): backward(), test() and restore_model() make the course's
calls, to the course's variable names, in the course's order (docs/course_map.md lays the listings beside them).

The scripts are parsed (ast), not run: these tests fail when a refactoring moves a statement of the lesson
into the library, renames the course's variables or reorders the recipe.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (variable the statement assigns, or None; the function or method it calls), in the course's order.
BACKWARD = [("x", "batches"), ("y", "forward"), ("global_step", "get_global_step"),
            ("ce", "sparse_softmax_cross_entropy_with_logits"), ("cem", "reduce_mean"), ("loss", "add_n"),
            ("loss", "get_collection"), ("learning_rate", "exponential_decay"), ("train_step", "minimize"),
            ("ema", "ExponentialMovingAverage"), (None, "control_dependencies"), ("ema_op", "apply"),
            (None, "control_dependencies"), ("train_op", "no_op"), ("saver", "Saver"), ("sess", "Session"),
            ("init_op", "global_variables_initializer"), (None, "restore_or_initialize"), (None, "save")]
TEST = [("x", "placeholder"), ("y_", "placeholder"), ("y", "forward"), ("ema", "ExponentialMovingAverage"),
        ("ema_restore", "variables_to_restore"), ("saver", "Saver"), ("correct_prediction", "equal"),
        ("correct_prediction", "argmax"), ("accuracy", "reduce_mean"), ("accuracy", "cast"), ("sess", "Session"),
        ("ckpt", "get_checkpoint_state"), (None, "restore"), ("accuracy_score", "run_in_batches"), (None, "print")]
RESTORE_MODEL = [("x", "placeholder"), ("y", "forward"), ("preValue", "argmax"),
                 ("variable_averages", "ExponentialMovingAverage"), ("variables_to_restore", "variables_to_restore"),
                 ("saver", "Saver"), ("sess", "Session"), (None, "restore")]
LESSONS = [("mnist_backward.py", "backward", BACKWARD, 60),
           ("lenet5/mnist_lenet5_backward.py", "backward", BACKWARD, 60),
           ("mnist_test.py", "test", TEST, 40),
           ("lenet5/mnist_lenet5_test.py", "test", TEST, 40),
           ("mnist_app.py", "restore_model", RESTORE_MODEL, 25)]
IDS = [f"{path}:{name}" for path, name, _, _ in LESSONS]


def function(path, name):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    assert found, f"{path} has no function {name}()"
    return found[0]


def callee(call):
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None


def names(target):
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(names(t) for t in target.elts))
    return set()


def calls_in_order(func):
    """[(line, column, variables the statement assigns, callee)] of every call in func, nested ones included."""
    out = []
    for stmt in ast.walk(func):
        if isinstance(stmt, ast.Assign):
            parts = [(set().union(*(names(t) for t in stmt.targets)), stmt.value)]
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            parts = [(names(i.optional_vars) if i.optional_vars else set(), i.context_expr) for i in stmt.items]
        elif isinstance(stmt, ast.For):
            parts = [(names(stmt.target), stmt.iter)]
        elif isinstance(stmt, (ast.Expr, ast.Return, ast.While, ast.If)):
            parts = [(set(), getattr(stmt, "value", None) or getattr(stmt, "test", None))]
        else:
            continue
        for assigned, expr in parts:
            for call in (n for n in ast.walk(expr) if isinstance(n, ast.Call)) if expr is not None else ():
                out.append((call.lineno, call.col_offset, assigned, callee(call)))
    return sorted(out, key=lambda c: c[:2])


def missing_in_order(calls, wanted):
    """The first (variable, callee) of `wanted` not found after the ones before it, or None."""
    i = 0
    for var, name in wanted:
        while i < len(calls) and not (calls[i][3] == name and (var is None or var in calls[i][2])):
            i += 1
        if i == len(calls):
            return var, name
        i += 1
    return None


@pytest.mark.parametrize("path, name, wanted, _", LESSONS, ids=IDS)
def test_the_lesson_makes_the_course_calls_in_order(path, name, wanted, _):
    missing = missing_in_order(calls_in_order(function(path, name)), wanted)
    assert missing is None, f"{path} {name}(): no `{missing[0] or ''} = ...{missing[1]}(...)` after the statements " \
                            "before it in the course's order"


@pytest.mark.parametrize("path, name, _, most", LESSONS, ids=IDS)
def test_the_lesson_function_stays_short(path, name, _, most):
    func = function(path, name)
    body = func.body[1:] if isinstance(func.body[0], ast.Expr) else func.body  # without the docstring
    assert body[-1].end_lineno - body[0].lineno + 1 <= most


def test_the_check_finds_a_statement_out_of_order():
    swapped = BACKWARD[:5] + [BACKWARD[6], BACKWARD[5]] + BACKWARD[7:]  # add_n after get_collection: fine
    calls = [(n, 0, {var} if var else set(), name) for n, (var, name) in enumerate(swapped)]
    assert missing_in_order(calls, BACKWARD) == ("loss", "get_collection")
    assert missing_in_order(calls[:3] + calls[4:], BACKWARD[:4]) == ("ce", "sparse_softmax_cross_entropy_with_logits")
    assert missing_in_order([(0, 0, set(), "forward")], [("y", "forward")]) == ("y", "forward")


@pytest.mark.parametrize("path", ["mnist_backward.py", "lenet5/mnist_lenet5_backward.py"])
def test_the_training_loop_saves_inside_the_session(path):
    func = function(path, "backward")
    sessions = [w for w in ast.walk(func) if isinstance(w, ast.With)
                and any(callee(i.context_expr) == "Session" for i in w.items if isinstance(i.context_expr, ast.Call))]
    loops = [f for s in sessions for f in ast.walk(s) if isinstance(f, ast.For) and callee(f.iter) == "steps"]
    assert loops and any(callee(n) == "save" for f in loops for n in ast.walk(f) if isinstance(n, ast.Call))


@pytest.mark.parametrize("path", ["mnist_test.py", "lenet5/mnist_lenet5_test.py"])
def test_the_test_loop_prints_the_course_line(path):
    func = function(path, "test")
    loops = [w for w in ast.walk(func) if isinstance(w, ast.While)]
    printed = [n for loop in loops for n in ast.walk(loop) if isinstance(n, ast.Call) and callee(n) == "print"]
    texts = ["".join(v.value for v in ast.walk(p.args[0]) if isinstance(v, ast.Constant) and isinstance(v.value, str))
             for p in printed]
    assert any(t.startswith("After ") and " training step(s), test accuracy = " in t for t in texts), texts
