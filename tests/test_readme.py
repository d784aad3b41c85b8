"""README.md's two set-up commands stay true: CI runs the test command exactly as written there.

The lesson pages beside the code name only scripts that exist, and nothing a user reads or runs
(READMEs, tests, benchmarks) reaches outside the repository: no file names the shared folder, and what the tests
open is watched while they run (tests/conftest.py).
"""
import re


def readme_commands(root):
    text = (root / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup)


def test_readme_has_two_setup_commands(root):
    commands = readme_commands(root)
    assert len(commands) == 2, commands
    train, test = commands
    assert train.endswith("python mnist_backward.py")
    assert "pytest" in test and "ruff check" in test   # the linter is part of the test command


def test_ci_runs_the_readme_test_command(root):
    test_command = readme_commands(root)[1]
    ci = (root / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci


def markdown_pages(root):
    return [p for p in sorted(root.rglob("*.md")) if ".venv" not in p.parts]


def test_readme_names_only_existing_scripts(root):
    text = "\n".join(p.read_text(encoding="utf-8") for p in markdown_pages(root))
    scripts = set(re.findall(r"python ((?:[\w-]+/)*[\w-]+\.py)", text))
    assert scripts, "no script named in README.md"
    # A bare name (as after `cd basics/opt4_8 &&`) may live in a sub-folder.
    def exists(name):
        if (root / name).is_file():
            return True
        return "/" not in name and any(".venv" not in p.parts for p in root.rglob(name))
    missing = sorted(s for s in scripts if not exists(s))
    assert not missing, missing


def test_lesson_pages_are_linked_from_the_readme(root):
    text = (root / "README.md").read_text(encoding="utf-8")
    for page in ("basics/README.md", "docs/mnist.md", "lenet5/README.md", "vgg16/README.md", "pic/README.md"):
        assert (root / page).is_file(), page
        assert f"({page})" in text, f"README.md does not link {page}"


def test_no_page_or_code_names_the_shared_folder(root):
    # What the tests really open is watched by a guard in conftest.py (test below); this catches the rest:
    # a README or benchmark that would send a user to a folder their clone does not have.
    files = [p for p in sorted(root.rglob("*")) if p.suffix in (".md", ".py") and p.name != "test_readme.py"
             and not {".venv", ".git"} & set(p.relative_to(root).parts)]
    assert len(files) > 20
    outside = [str(p.relative_to(root)) for p in files if p.is_file() and re.search(
        r"\.\./shared|[\"'/]shared/data|SHARED_DIR", p.read_text(encoding="utf-8"))]
    assert not outside, outside


def test_the_guard_sees_what_is_opened_beside_the_repository(root):
    import conftest

    beside = root.parent / "shared" / "data" / "mnist"
    assert conftest.beside_the_repository(beside) and conftest.beside_the_repository(str(root) + "-copy/x")
    assert not conftest.beside_the_repository(root / "data" / "t10k-labels-idx1-ubyte.gz")
    assert not conftest.beside_the_repository(root) and not conftest.beside_the_repository("/usr/lib/python3")
    assert not conftest.beside_the_repository(3)  # a file descriptor
    seen = len(conftest._OUTSIDE)
    conftest._audit("open", (str(beside / "x.gz"), "r", 0))
    assert conftest._OUTSIDE[seen:] == [str(beside / "x.gz")]
    del conftest._OUTSIDE[seen:]  # this one was only handed to the guard, never opened
