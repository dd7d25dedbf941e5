"""Where torch is not installed (a Pi after `make test`), the tests that need it
are skipped with the reason, and everything else still runs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TORCH_MISSING

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
WITHOUT_TORCH = TESTS / "without_torch"


def _imports_torch(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import) and any(a.name.split(".")[0] == "torch" for a in sub.names):
            return True
        if isinstance(sub, ast.ImportFrom) and (sub.module or "").split(".")[0] == "torch":
            return True
    return False


def _marked_torch(decorators: list[ast.expr]) -> bool:
    return any(ast.unparse(d) == "pytest.mark.torch" for d in decorators)


def test_every_test_that_imports_torch_is_marked() -> None:
    unmarked = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        module_marked = any(
            isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets)
            and "pytest.mark.torch" in ast.unparse(stmt.value)
            for stmt in tree.body
        )
        for stmt in tree.body:
            # A module-level `import torch` fails collection where torch is missing.
            if isinstance(stmt, ast.Import | ast.ImportFrom) and _imports_torch(stmt):
                unmarked.append(f"{path.name}: imports torch at module level")
            if (
                isinstance(stmt, ast.FunctionDef)
                and stmt.name.startswith("test")
                and _imports_torch(stmt)
                and not (module_marked or _marked_torch(stmt.decorator_list))
            ):
                unmarked.append(f"{path.name}::{stmt.name}")
    assert not unmarked, "mark these @pytest.mark.torch: " + ", ".join(unmarked)


def test_without_torch_its_tests_skip_with_the_reason_and_the_rest_pass() -> None:
    env = {
        **os.environ,
        # sitecustomize there hides torch from this pytest and every process it starts
        "PYTHONPATH": os.pathsep.join([str(WITHOUT_TORCH), str(REPO)]),
    }
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
            "tests/test_train.py", "tests/integration/test_custom_training.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all(TORCH_MISSING in line for line in skipped), skipped
    summary = output.strip().splitlines()[-1]
    # test_train.py's tests without torch ran; the three CRF ones and the
    # training module were skipped, not failed or errored.
    assert " passed" in summary and " skipped" in summary, summary
    assert "failed" not in summary and "error" not in summary, summary
    assert any("test_train.py:" in line for line in skipped), skipped
    assert any("test_custom_training.py" in line for line in skipped), skipped
