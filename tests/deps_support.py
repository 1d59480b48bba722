"""Static check that every DVC stage lists, as deps, each project file its code imports.

DVC re-runs a stage when one of its ``deps`` changes, so a module the stage imports but does not list is a
change ``dvc repro`` silently ignores. This module reads ``dvc.yaml``, finds the module each stage's ``cmd``
runs (``python -m pkg.mod``, ``${launcher} -m pkg.mod``, ``python path/to/script.py``), follows its imports
through the project's source with ``ast`` (never importing it: module-level imports, imports inside functions
and branches, relative imports, ``importlib.import_module("const")``; not imports under ``if TYPE_CHECKING:``,
which never run) and compares the files reached with the stage's deps.

A file counts as reached when running the stage executes it: the module itself, and each package
``__init__.py`` on the way to it (``import a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` first).
Only files under the repository (or the stage's ``wdir``) are project files; everything else is a third-party
or standard-library import and is not followed. Absolute imports resolve from the stage's ``wdir`` (what
``python -m`` puts first on sys.path); a ``python path/script.py`` entry is resolved the same way, although
Python would put the script's own folder first.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

_INTERPOLATION = re.compile(r"\$\{\s*([^}]*?)\s*\}")

Chain = tuple[str, ...]  # ("-m stages.download", "stages/download.py:26", "stages/xlt/sources/fetch.py:27",
#                           "stages/xlt/io.py"): the command's entry, each import on the way, the file reached


@dataclass(frozen=True)
class Stage:
    """One stage of dvc.yaml as far as code deps are concerned (a matrix/foreach stage is one entry: its
    items differ only in data paths and arguments, never in the code they run)."""

    name: str
    cmds: tuple[str, ...]
    deps: tuple[str, ...]  # repo-relative posix paths; deps that stay ``${item...}`` after interpolation dropped
    wdir: str  # repo-relative posix folder the command runs in ("." for the repo root)


# ---------------------------------------------------------------- dvc.yaml


def _lookup(context: dict[str, Any], dotted: str) -> Any:
    node: Any = context
    for key in dotted.split("."):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise KeyError(dotted)
    return node


def interpolate(text: str, context: dict[str, Any], *, partial: bool = False) -> str | None:
    """``text`` with each ``${a.b}`` replaced from ``context``. One that cannot be (``${item.arm}``) makes the
    result None, or with ``partial`` stays as it is."""
    unresolved = []

    def value(match: re.Match) -> str:
        try:
            return str(_lookup(context, match.group(1)))
        except KeyError:
            unresolved.append(match.group(0))
            return match.group(0)

    expanded = _INTERPOLATION.sub(value, text)
    return None if unresolved and not partial else expanded


def _context(dvc_yaml: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What ``${...}`` may refer to outside an item: params.yaml beside dvc.yaml, then ``vars:`` entries."""
    context: dict[str, Any] = {}
    sources: list[Any] = ["params.yaml", *(dvc_yaml.get("vars") or [])]
    for source in sources:
        if isinstance(source, dict):
            context.update(source)
            continue
        path = folder / str(source).split(":", 1)[0]
        if path.is_file() and path.suffix in {".yaml", ".yml"}:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                context.update(loaded)
    return context


def _norm(path: str, wdir: str) -> str:
    joined = PurePosixPath(wdir) / path.strip().rstrip("/")
    parts: list[str] = []
    for part in joined.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts) or "."


def load_stages(dvc_yaml_path: str | Path) -> list[Stage]:
    """The stages of a dvc.yaml, with ``${...}`` in cmd/deps/wdir expanded where it does not depend on items."""
    path = Path(dvc_yaml_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    context = _context(document, path.parent)
    stages = []
    for name, definition in (document.get("stages") or {}).items():
        body = definition.get("do", definition) if "foreach" in definition else definition
        raw_cmds = body.get("cmd", [])
        raw_cmds = [raw_cmds] if isinstance(raw_cmds, str) else list(raw_cmds)
        wdir = interpolate(str(body.get("wdir", ".")), context) or "."
        wdir = _norm(wdir, ".")
        cmds = tuple(interpolate(cmd, context, partial=True) or cmd for cmd in raw_cmds)
        deps = []
        for dep in body.get("deps") or []:
            dep_path = next(iter(dep)) if isinstance(dep, dict) else str(dep)
            expanded = interpolate(dep_path, context)
            if expanded is not None:  # ``data/transfer/${item.arm}-...``: a data path, never code
                deps.append(_norm(expanded, wdir))
        stages.append(Stage(str(name), cmds, tuple(deps), wdir))
    return stages


def entry_points(cmd: str) -> Iterator[tuple[str, str]]:
    """("module", "pkg.mod") for each ``-m pkg.mod`` and ("script", "path.py") for each ``*.py`` argument.

    Unresolved ``${item.x}`` parts are left as text; they never look like ``-m`` or a ``.py`` path.
    """
    for part in re.split(r"&&|\|\||;|\|", cmd):
        try:
            tokens = shlex.split(part)
        except ValueError:
            tokens = part.split()
        for i, token in enumerate(tokens):
            if token == "-m" and i + 1 < len(tokens):
                yield "module", tokens[i + 1]
            elif token.startswith("-m") and len(token) > 2 and not token.startswith("--"):
                yield "module", token[2:]
            elif token.endswith(".py") and not token.startswith("-"):
                yield "script", token


# ---------------------------------------------------------------- imports


class ProjectModules:
    """Maps dotted module names to files under ``search_root`` (the command's cwd, first on sys.path)."""

    def __init__(self, repo_root: Path, search_root: Path) -> None:
        self.repo_root = repo_root.resolve()
        self.search_root = search_root.resolve()

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.repo_root).as_posix()

    def module_file(self, dotted: str) -> Path | None:
        """The file that defines module ``dotted``: ``a/b.py`` or ``a/b/__init__.py`` (None: not the project's,
        or a namespace package, which has no file)."""
        base = self.search_root.joinpath(*dotted.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def is_package(self, dotted: str) -> bool:
        return self.search_root.joinpath(*dotted.split(".")).is_dir()

    def executed_by_import(self, dotted: str) -> list[Path]:
        """Files ``import dotted`` executes, outermost package first (only those that exist in the project)."""
        parts = dotted.split(".")
        files = []
        for k in range(1, len(parts) + 1):
            prefix = ".".join(parts[:k])
            found = self.module_file(prefix)
            if found is not None:
                files.append(found)
            elif not self.is_package(prefix):
                break  # not the project's (a third-party or stdlib module): nothing of ours below it
        return files

    def module_name(self, path: Path) -> tuple[str, bool]:
        """(dotted name, is a package) of a project file, as seen from ``search_root``."""
        relative = path.resolve().relative_to(self.search_root).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            return ".".join(parts[:-1]), True
        return ".".join(parts), False

    def imports(self, path: Path) -> list[tuple[int, str]]:
        """(line, dotted module) for every import the file can execute, relative ones made absolute.

        ``from a import b`` yields ``a`` and ``a.b`` (b may be a submodule; if it is only a name, ``a.b``
        resolves to no file and is dropped later)."""
        name, is_package = self.module_name(path)
        package = name if is_package else name.rpartition(".")[0]
        found = []
        for line, module, names, level in self._statements(path):
            if level:
                anchor = package.split(".") if package else []
                if level - 1 >= len(anchor):
                    continue  # beyond the top-level package: an ImportError at run time, nothing to follow
                anchor = anchor[: len(anchor) - (level - 1)]
                base = ".".join(anchor + ([module] if module else []))
            else:
                base = module or ""
            if base:
                found.append((line, base))
            found.extend((line, f"{base}.{n}" if base else n) for n in names if n != "*")
        return found

    def _statements(self, path: Path) -> list[tuple[int, str | None, tuple[str, ...], int]]:
        stat = path.stat()
        return _statements_of(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _statements_of(path: str, mtime_ns: int, size: int) -> list[tuple[int, str | None, tuple[str, ...], int]]:
    """The file's imports in source order; cached per file version (every stage re-reads the same modules)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    return sorted(_import_statements(tree), key=lambda s: s[0])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_statements(tree: ast.AST) -> Iterator[tuple[int, str | None, tuple[str, ...], int]]:
    """(line, module, imported names, level) of every import anywhere in the tree, in functions too."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)  # the body runs only under a type checker
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, (), 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module, tuple(a.name for a in node.names), node.level
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            yield node.lineno, node.args[0].value, (), 0  # type: ignore[attr-defined]
        stack.extend(ast.iter_child_nodes(node))


def _is_dynamic_import(call: ast.Call) -> bool:
    """``importlib.import_module("a.b")`` / ``import_module("a.b")`` / ``__import__("a.b")`` with a constant."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return (name in {"import_module", "__import__"} and bool(call.args)
            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str))


def reached_files(modules: ProjectModules, entries: Iterable[tuple[str, str]]) -> dict[str, Chain]:
    """Every project file the entry points execute -> the import chain that reached it first (breadth-first,
    so the chain is a shortest one): the entry (``-m pkg.mod`` or the script), then ``file:line`` of each
    import on the way, then the file."""
    chains: dict[Path, Chain] = {}
    queue: deque[Path] = deque()

    def reach(path: Path, chain: Chain) -> None:
        if path not in chains:
            chains[path] = chain
            queue.append(path)

    for kind, target in entries:
        if kind == "module":
            files = modules.executed_by_import(target)
            main = modules.search_root.joinpath(*target.split("."), "__main__.py")
            if main.is_file():  # ``python -m pkg`` runs pkg/__init__.py, then pkg/__main__.py
                files.append(main)
        else:
            script = modules.search_root / target
            files = [script] if script.is_file() else []
        for path in files:
            reach(path, (f"-m {target}" if kind == "module" else target, modules.rel(path)))
    while queue:
        path = queue.popleft()
        chain = chains[path]
        for line, dotted in modules.imports(path):
            for target in modules.executed_by_import(dotted):
                reach(target, chain[:-1] + (f"{chain[-1]}:{line}", modules.rel(target)))
    return {modules.rel(path): chain for path, chain in chains.items()}


# ---------------------------------------------------------------- the checks


def covers(dep: str, file: str) -> bool:
    """A dep covers a file if it is that file or a folder above it."""
    return dep == "." or file == dep or file.startswith(dep.rstrip("/") + "/")


def stage_code(stage: Stage, repo_root: Path) -> dict[str, Chain]:
    """The project files one stage's commands execute, each with the import chain that reached it."""
    repo_root = Path(repo_root)
    modules = ProjectModules(repo_root, repo_root / stage.wdir)
    entries = [entry for cmd in stage.cmds for entry in entry_points(cmd)]
    return reached_files(modules, entries)


def undeclared_imports(dvc_yaml_path: str | Path, repo_root: str | Path) -> dict[str, list[tuple[str, Chain]]]:
    """{stage: [(file, import chain)]} for every project file a stage executes that none of its deps covers.

    Stages with nothing undeclared are left out, so a clean dvc.yaml gives ``{}``."""
    report = {}
    for stage in load_stages(dvc_yaml_path):
        missing = [(file, chain) for file, chain in sorted(stage_code(stage, Path(repo_root)).items())
                   if not any(covers(dep, file) for dep in stage.deps)]
        if missing:
            report[stage.name] = missing
    return report


def over_declared_deps(dvc_yaml_path: str | Path, repo_root: str | Path) -> dict[str, list[tuple[str, list[str]]]]:
    """{stage: [(dep, python files under it the stage never executes)]} for code deps that re-run it for nothing.

    Only deps that hold Python source count: a ``.py`` file the stage never imports, or a folder with ``.py``
    files it never imports (listed). Data deps, and non-Python files in code folders (checksum tables, a
    README), are not judged: a stage may read them without importing anything."""
    repo_root = Path(repo_root)
    report = {}
    for stage in load_stages(dvc_yaml_path):
        code = stage_code(stage, repo_root)
        extra = []
        for dep in stage.deps:
            path = repo_root / dep
            if path.is_file() and path.suffix == ".py":
                unused = [] if dep in code else [dep]
            elif path.is_dir():
                unused = sorted(p for p in (f.relative_to(repo_root).as_posix() for f in path.rglob("*.py"))
                                if p not in code and "__pycache__" not in p)
            else:
                continue
            if unused:
                extra.append((dep, unused))
        if extra:
            report[stage.name] = extra
    return report


def format_undeclared(report: dict[str, list[tuple[str, Chain]]]) -> str:
    lines = []
    for stage, missing in report.items():
        lines.append(f"stage {stage!r} imports files none of its deps covers:")
        lines.extend(f"  {file}    via {' -> '.join(chain)}" for file, chain in missing)
    return "\n".join(lines)


def format_over_declared(report: dict[str, list[tuple[str, list[str]]]]) -> str:
    lines = []
    for stage, extra in report.items():
        for dep, unused in extra:
            what = "never imported" if unused == [dep] else f"never imports {len(unused)} of its files: " + \
                ", ".join(unused)
            lines.append(f"stage {stage!r}: dep {dep} {what}")
    return "\n".join(lines)
