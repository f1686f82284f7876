"""The scripts under ``deploy/`` (not a package) loaded as modules, for the tests that use them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def load_script(path: Path) -> ModuleType:
    """The script at ``path`` as a module named after its file (registered in ``sys.modules``:
    dataclasses resolve annotations through it)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_validator() -> ModuleType:
    """``deploy/validate_template.py``."""
    return load_script(ROOT / "deploy" / "validate_template.py")
