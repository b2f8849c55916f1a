"""The package's layout: one job per file, one meaning per class name, MLflow's limits by name."""

from __future__ import annotations

import ast
import re
from collections import defaultdict

from helpers import REPO

PACKAGE = REPO / "al4ml"
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_short_and_opens_with_its_job():
    assert len(MODULES) > 50
    for path in MODULES:
        text = path.read_text()
        assert len(text.splitlines()) <= 400, f"{path.relative_to(PACKAGE)}: over 400 lines"
        doc = ast.get_docstring(ast.parse(text))
        assert doc and doc.split("\n")[0].strip(), f"{path.relative_to(PACKAGE)}: no docstring"


def test_one_class_per_name_across_the_package():
    where = defaultdict(list)
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert len(where) > 40
    twice = {name: places for name, places in where.items() if len(places) > 1}
    assert not twice, twice


def test_mlflow_limits_are_mlflows_constants_not_literals():
    for path in MODULES:
        text = path.read_text()
        assert not re.search(r"\b6000\b|_CallableModule", text), path.relative_to(PACKAGE)


def test_tests_share_helpers_not_each_other():
    """Test modules import ``helpers`` (and fixtures come from ``conftest``), never one another."""
    tests = sorted((REPO / "tests").rglob("test_*.py"))
    assert len(tests) > 40
    for path in tests:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n.split(".")[0].startswith(("test_", "conftest"))], path
