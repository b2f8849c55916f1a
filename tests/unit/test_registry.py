from pathlib import Path


def test_listed_descriptions_are_plain_text():
    """``al4ml list`` shows each entry's first docstring line without reStructuredText literals."""
    from al4ml.augment import AUGMENTATIONS
    from al4ml.data import DATASETS
    from al4ml.models import MODELS
    from al4ml.query import STRATEGIES
    from al4ml.search import SEARCHES

    entries = [e for r in (AUGMENTATIONS, DATASETS, MODELS, STRATEGIES, SEARCHES) for e in r.entries()]
    assert entries and not [e.name for e in entries if "``" in e.description or not e.description]
    assert "trials candidates" in SEARCHES.get("optuna").description


def test_every_class_name_in_the_package_is_its_own():
    """One meaning per name: no two classes of al4ml share a name (a grid's cell, a cohort's
    member and a report's cell are GridCell, CohortMember and ReportCell)."""
    import ast
    from collections import Counter

    import al4ml

    root = Path(al4ml.__file__).parent
    names = Counter(
        node.name
        for path in root.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    )
    assert names and not {n: c for n, c in names.items() if c > 1}
