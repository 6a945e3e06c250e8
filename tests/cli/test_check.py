"""`runyard check` validates a configuration without serving; a worker refuses tasks that cannot run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUNYARD = str(Path(sys.executable).parent / "runyard")
BAD = """
[tasks.py-missing]
python = "no_such_module_xyz:fn"

[tasks.py-attr]
python = "tests.worker.tasks_for_tests:no_such_function"

[tasks.nowhere]
run = "true"
cwd = "/does/not/exist"

[tasks.fine]
run = "echo ok"
"""
GOOD = """
[tasks.fine]
run = "echo ok"

[tasks.add]
python = "tests.worker.tasks_for_tests:add"
"""
ROOT = Path(__file__).parents[2]


def runyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNYARD, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_check_lists_every_problem_with_file_task_key_and_reason(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(BAD)
    result = runyard("check", "--config", str(config))
    assert result.returncode == 1 and result.stdout == ""
    problems = result.stderr.splitlines()
    by_key = {line.split(": ")[1]: line for line in problems[:-1]}
    assert sorted(by_key) == ["tasks.nowhere.cwd", "tasks.py-attr.python", "tasks.py-missing.python"]
    assert by_key["tasks.nowhere.cwd"] == f"{config}: tasks.nowhere.cwd: the directory /does/not/exist does not exist"
    assert "cannot import tests.worker.tasks_for_tests:no_such_function" in by_key["tasks.py-attr.python"]
    assert "cannot import no_such_module_xyz:fn: ModuleNotFoundError" in by_key["tasks.py-missing.python"]
    assert problems[-1] == f"{config}: 3 problem(s)"


def test_check_passes_a_good_configuration_and_reports_broken_toml(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    result = runyard("check", "--config", str(good))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{good}: ok, 2 task(s) (1 python, 1 shell)"
    broken = tmp_path / "broken.toml"
    broken.write_text('[tasks.x]\nrun = "a"\nretry = "often"\n')
    result = runyard("check", "--config", str(broken))
    assert result.returncode == 1 and f"{broken}: tasks.x.retry:" in result.stderr


def test_a_worker_does_not_start_with_a_task_it_cannot_run(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(BAD)
    result = runyard("worker", "--config", str(config), "--database", f"sqlite:///{tmp_path / 'w.db'}")
    assert result.returncode == 2
    assert "tasks.nowhere.cwd" in result.stderr and "no_such_module_xyz" in result.stderr
