"""Each package says what it holds and declares its public surface in ``__init__.__all__``:
the names it re-exports and the submodules other packages may import. A module of one
top-level package (``pilotshare.a``) may import from another (``pilotshare.b``) only through
that surface, so a package's internals can move without breaking its callers.

``from pilotshare.b.m import x`` needs ``m`` in ``pilotshare.b.__all__`` (and, through a
sub-package, each step declared by the one above it); ``from pilotshare.b import x`` needs
``x`` in ``pilotshare.b.__all__``; a package bound by name (``from pilotshare import b``) is
held to its surface on each ``b.x``. A public module offers its ``__all__`` if it declares
one, else its names without a leading underscore. Imports inside one top-level package are
free. The composition root (the modules directly under ``pilotshare``) is one more importer
held to the rule, and no library imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pilotshare"

#: The top-level "package" of the composition root and of ``pilotshare`` itself.
ROOT = ""


def _declared(path: Path) -> tuple[str, ...] | None:
    """The literal ``__all__`` of a module, or ``None`` if it declares none."""
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "__all__":
            assert isinstance(value, ast.List | ast.Tuple), f"{path}: __all__ is not a literal"
            return tuple(ast.literal_eval(value))
    return None


class Tree:
    """The modules and packages under one ``pilotshare`` directory."""

    def __init__(self, src: Path) -> None:
        self.src = src

    def path(self, dotted: str) -> Path:
        return self.src.joinpath(*dotted.split(".")[1:])

    def is_package(self, dotted: str) -> bool:
        return (self.path(dotted) / "__init__.py").is_file()

    def is_module(self, dotted: str) -> bool:
        return self.path(dotted).with_suffix(".py").is_file()

    def top(self, dotted: str) -> str:
        """The top-level package ``dotted`` belongs to (``ROOT`` for the composition root)."""
        parts = dotted.split(".")
        return parts[1] if len(parts) > 1 and self.is_package(".".join(parts[:2])) else ROOT

    def surface(self, dotted: str) -> frozenset[str] | None:
        """What a package or module declares public (``None``: a module without ``__all__``)."""
        if self.is_package(dotted):
            declared = _declared(self.path(dotted) / "__init__.py") or ()
            if dotted == "pilotshare":  # every top-level package is reachable as a whole
                declared = (*declared, *(p.parent.name for p in self.src.glob("*/__init__.py")))
            return frozenset(declared)
        found = _declared(self.path(dotted).with_suffix(".py"))
        return None if found is None else frozenset(found)

    def offers(self, dotted: str, name: str) -> bool:
        surface = self.surface(dotted)
        return not name.startswith("_") if surface is None else name in surface

    def name(self, path: Path) -> str:
        parts = ["pilotshare", *path.relative_to(self.src).with_suffix("").parts]
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def reach(self, importer: str, target: str, name: str) -> str | None:
        """Why ``importer`` may not import ``name`` from ``target``, or ``None`` if it may."""
        mine = self.top(importer)
        if target == "pilotshare":
            if self.is_package(f"pilotshare.{name}"):
                return None
            return None if mine == ROOT or self.offers(target, name) else self._why(target, name)
        if self.top(target) == mine:
            return None
        if self.top(target) == ROOT:
            return f"{target} is the composition root, which no library imports"
        parts = target.split(".")
        current = ".".join(parts[:2])
        for part in parts[2:]:
            if not self.offers(current, part):
                return self._why(current, part)
            current = f"{current}.{part}"
        return None if self.offers(current, name) else self._why(current, name)

    def _why(self, dotted: str, name: str) -> str:
        return f"{name} is not in the public surface of {dotted}"

    def violations(self) -> list[str]:
        found = []
        for path in sorted(self.src.rglob("*.py")):
            where = path.relative_to(self.src)
            found += dict.fromkeys(f"{where}:{line}: {why}" for line, why in self._of(path))
        return found

    def _of(self, path: Path) -> list[tuple[int, str]]:
        me = self.name(path)
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
        bound: dict[str, str] = {}  # a local name -> the other package's module it binds
        wrong = []
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)]
                target = ".".join([*base, node.module or ""]) if node.level else node.module
                if not target or not target.startswith("pilotshare"):
                    continue
                for alias in node.names:
                    why = self.reach(me, target, alias.name)
                    full = f"{target}.{alias.name}"
                    if why:
                        wrong.append((node.lineno, why))
                    elif self.top(full) != self.top(me) and (
                        self.is_package(full) or self.is_module(full)
                    ):
                        bound[alias.asname or alias.name] = full
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    target, _, name = alias.name.rpartition(".")
                    if not alias.name.startswith("pilotshare"):
                        continue
                    if target and (why := self.reach(me, target, name)):
                        wrong.append((node.lineno, why))
                    elif alias.asname or not target:
                        bound[alias.asname or alias.name] = alias.name
        wrong += [  # ``b.x`` on a package or module ``b`` bound above
            (node.lineno, self._why(bound[node.value.id], node.attr))
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and not self.offers(bound[node.value.id], node.attr)
            and not (bound[node.value.id] == "pilotshare" and self.top(me) == ROOT)
        ]
        return wrong


PACKAGES = sorted(p.parent for p in SRC.rglob("__init__.py"))


def test_no_package_reaches_past_another_packages_surface() -> None:
    assert Tree(SRC).violations() == []


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(SRC.parent)))
def test_every_package_says_what_it_holds_and_declares_its_surface(package: Path) -> None:
    init = package / "__init__.py"
    tree = ast.parse(init.read_text(), str(init))
    assert ast.get_docstring(tree), f"{init}: no docstring"
    declared = _declared(init)
    assert declared is not None, f"{init}: no __all__"
    bound = {
        alias.asname or alias.name.partition(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    } | {
        target.id
        for node in tree.body
        for target in (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if isinstance(target, ast.Name)
    }
    bound |= {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    submodules = {p.stem for p in package.glob("*.py")} | {
        p.parent.name for p in package.glob("*/__init__.py")
    }
    assert [n for n in declared if n not in bound | submodules] == []


def _plant(src: Path, files: dict[str, str]) -> Tree:
    for name, text in files.items():
        path = src.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Tree(src)


def test_the_check_sees_an_import_past_a_surface(tmp_path: Path) -> None:
    tree = _plant(
        tmp_path / "pilotshare",
        {
            "__init__.py": '__all__ = ["__version__"]\n__version__ = "0"\n',
            "a/__init__.py": (
                '__all__ = ["Thing", "pub", "sub"]\nfrom pilotshare.a.pub import Thing\n'
            ),
            "a/pub.py": "class Thing: ...\nclass _Private: ...\n",
            "a/hidden.py": "x = 1\n",
            "a/inner.py": "from pilotshare.a.hidden import x\n",  # one package: free
            "a/sub/__init__.py": '__all__ = ["open"]\n',
            "a/sub/open.py": "y = 1\n",
            "a/sub/shut.py": "z = 1\n",
            "b/__init__.py": "__all__ = []\n",
            "b/user.py": (
                "from pilotshare import a\n"
                "from pilotshare.a import Thing, pub\n"
                "from pilotshare.a.pub import Thing\n"
                "from pilotshare.a.sub.open import y\n"
                "from pilotshare.a.hidden import x\n"
                "from pilotshare.a import Other\n"
                "from pilotshare.a.pub import _Private\n"
                "from pilotshare.a.sub.shut import z\n"
                "from pilotshare.cli import main\n"
                "import pilotshare.a.hidden as h\n"
                "a.Thing, a.Secret, pub.Thing, pub._Private\n"
            ),
            "cli.py": "from pilotshare.a.hidden import x\nfrom pilotshare import a\na.Secret\n",
        },
    )
    assert tree.violations() == [
        "b/user.py:5: hidden is not in the public surface of pilotshare.a",
        "b/user.py:6: Other is not in the public surface of pilotshare.a",
        "b/user.py:7: _Private is not in the public surface of pilotshare.a.pub",
        "b/user.py:8: shut is not in the public surface of pilotshare.a.sub",
        "b/user.py:9: pilotshare.cli is the composition root, which no library imports",
        "b/user.py:10: hidden is not in the public surface of pilotshare.a",
        "b/user.py:11: Secret is not in the public surface of pilotshare.a",
        "b/user.py:11: _Private is not in the public surface of pilotshare.a.pub",
        "cli.py:1: hidden is not in the public surface of pilotshare.a",
        "cli.py:3: Secret is not in the public surface of pilotshare.a",
    ]
