"""Loading the repository's scripts (hack/, deploy/), which are not packages, by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str, relative: str) -> ModuleType:
    """The module (a file, or a package folder) at ROOT/relative, imported once under `name`,
    with its folder importable as when it runs as a script (benchmarks share `machine.py`)."""
    if name in sys.modules:
        return sys.modules[name]
    path = ROOT / relative
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = (
        importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
        if path.is_dir()
        else importlib.util.spec_from_file_location(name, path)
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module
