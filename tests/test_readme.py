"""README.md's two set-up commands stay true: CI runs the test command exactly as written there."""
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
    assert "pytest" in test


def test_ci_runs_the_readme_test_command(root):
    test_command = readme_commands(root)[1]
    ci = (root / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci


def test_readme_names_only_existing_scripts(root):
    text = (root / "README.md").read_text(encoding="utf-8")
    scripts = set(re.findall(r"python ((?:[\w-]+/)*[\w-]+\.py)", text))
    assert scripts, "no script named in README.md"
    # A bare name (as after `cd basics/opt4_8 &&`) may live in a sub-folder.
    def exists(name):
        if (root / name).is_file():
            return True
        return "/" not in name and any(".venv" not in p.parts for p in root.rglob(name))
    missing = sorted(s for s in scripts if not exists(s))
    assert not missing, missing
