"""Every DVC stage lists as deps the project files its code imports (so `dvc repro` re-runs what a change affects).

The checker (``deps_support``) reads the code with ``ast`` and never imports it. Its own behaviour is pinned on a
mini project in ``fixtures/deps`` (a stage that imports a helper inside a function, relative imports, a matrix
stage whose cmd uses ``${launcher}``); then it is run on the real dvc.yaml.

Over-declared code deps: a listed ``.py`` file the stage never imports fails (a stale line of dvc.yaml). Unused
files under a listed folder are reported as a warning, not a failure: they only cost a superfluous re-run, never a
stale result, and folder deps are a deliberate choice (a module added to the folder is covered without editing
dvc.yaml), so a failing check would push towards brittle per-file lists.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import yaml

from deps_support import (
    covers,
    entry_points,
    format_over_declared,
    format_undeclared,
    load_stages,
    over_declared_deps,
    stage_code,
    undeclared_imports,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "deps"


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """A scratch copy of the fixture project, free to edit."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "mini"))


def _add_dep(project: Path, stage: str, dep: str) -> None:
    path = project / "dvc.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["stages"][stage]["deps"].append(dep)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------- the checker on the fixture


def test_reports_exactly_the_one_undeclared_import_with_its_chain(mini: Path) -> None:
    report = undeclared_imports(mini / "dvc.yaml", mini)
    assert report == {"build": [("minipipe/helpers/text.py",
                                 ("-m minipipe.build", "minipipe/build.py:12", "minipipe/helpers/text.py"))]}
    assert format_undeclared(report) == (
        "stage 'build' imports files none of its deps covers:\n"
        "  minipipe/helpers/text.py    via -m minipipe.build -> minipipe/build.py:12 -> minipipe/helpers/text.py")
    two = {"a": [("x.py", ("-m a", "x.py"))], "b": [("y.py", ("-m b", "b.py:3", "y.py"))]}
    assert format_undeclared(two).count("\n") == 3


@pytest.mark.parametrize("dep", ["minipipe/helpers/text.py", "minipipe/helpers", "minipipe/helpers/", "minipipe"])
def test_declaring_the_file_or_a_folder_above_it_makes_it_clean(mini: Path, dep: str) -> None:
    _add_dep(mini, "build", dep)
    assert undeclared_imports(mini / "dvc.yaml", mini) == {}


def test_a_folder_dep_covers_only_files_below_it_not_files_sharing_its_prefix(mini: Path) -> None:
    assert covers("minipipe/helpers", "minipipe/helpers/text.py") and covers("minipipe/helpers/", "minipipe/helpers/text.py")
    assert covers("minipipe/helpers/text.py", "minipipe/helpers/text.py") and covers(".", "minipipe/util.py")
    assert not covers("stages/x", "stages/xyz.py") and not covers("stages/x/", "stages/xyz.py")
    assert not covers("minipipe/helpers/text.py", "minipipe/helpers/text.pyc")
    assert covers("data/X", "data/X/y.py") and covers("data/X/", "data/X/y.py")  # only "/" is stripped
    _add_dep(mini, "build", "minipipe/helpers/tex")  # a prefix of the missing file's name, not a folder above it
    assert [file for file, _ in undeclared_imports(mini / "dvc.yaml", mini)["build"]] == ["minipipe/helpers/text.py"]


def _write(project: Path, rel: str, text: str = "") -> None:
    path = project / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _build(project: Path, files: dict[str, str], dvc: dict) -> None:
    """A project of these files and this dvc.yaml."""
    for rel, text in files.items():
        _write(project, rel, text)
    (project / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False), encoding="utf-8")


DYNAMIC = """\
import importlib
import typing
from importlib import import_module

import minipipe.plugin_d
import nsroot.sub.leaf


def load(name, handlers, settings):
    importlib.import_module('minipipe.plugin_a')  # line 10: attribute call, constant
    import_module('minipipe.plugin_b')  # line 11: bare name
    __import__('minipipe.plugin_c')  # line 12
    import_module(name)  # a variable: cannot be followed
    import_module()  # no argument: an error at run time, nothing to follow
    handlers['x']('minipipe.not_an_import')  # a call of a subscript: neither a name nor an attribute
    importlib.reload(importlib)
    if typing.TYPE_CHECKING:
        import minipipe.typing_only
    if settings.debug:
        import minipipe.plugin_e  # an ordinary branch: followed
"""


def test_imports_of_every_form_are_followed_and_only_those(mini: Path) -> None:
    """import_module / __import__ with a constant, ``import a.b`` at module level, a namespace package (no
    __init__.py) on the way, ``typing.TYPE_CHECKING`` skipped but any other ``if`` followed."""
    for name in ("plugin_a", "plugin_b", "plugin_c", "plugin_d", "plugin_e", "not_an_import"):
        _write(mini, f"minipipe/{name}.py")
    _write(mini, "nsroot/sub/leaf.py")  # nsroot and nsroot/sub have no __init__.py
    _write(mini, "minipipe/dynamic.py", DYNAMIC)
    document = yaml.safe_load((mini / "dvc.yaml").read_text(encoding="utf-8"))
    document["stages"]["dynamic"] = {"cmd": "python -m minipipe.dynamic", "deps": ["minipipe", "nsroot"]}
    (mini / "dvc.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    stage = {stage.name: stage for stage in load_stages(mini / "dvc.yaml")}["dynamic"]
    code = stage_code(stage, mini)
    assert sorted(code) == ["minipipe/__init__.py", "minipipe/dynamic.py", "minipipe/plugin_a.py",
                            "minipipe/plugin_b.py", "minipipe/plugin_c.py", "minipipe/plugin_d.py",
                            "minipipe/plugin_e.py", "nsroot/sub/leaf.py"]
    assert code["minipipe/plugin_a.py"] == ("-m minipipe.dynamic", "minipipe/dynamic.py:10", "minipipe/plugin_a.py")
    assert code["minipipe/plugin_b.py"][1] == "minipipe/dynamic.py:11"
    assert code["minipipe/plugin_c.py"][1] == "minipipe/dynamic.py:12"
    assert code["minipipe/plugin_d.py"][1] == "minipipe/dynamic.py:5"
    assert code["nsroot/sub/leaf.py"] == ("-m minipipe.dynamic", "minipipe/dynamic.py:6", "nsroot/sub/leaf.py")
    assert "dynamic" not in undeclared_imports(mini / "dvc.yaml", mini)


def test_imports_after_a_type_checking_block_are_still_followed(mini: Path) -> None:
    _write(mini, "minipipe/late.py")
    _write(mini, "minipipe/guarded.py", "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import minipipe.unused\n"
                                        "else:\n    import minipipe.util\n\nimport minipipe.late\n")
    document = yaml.safe_load((mini / "dvc.yaml").read_text(encoding="utf-8"))
    document["stages"]["guarded"] = {"cmd": "python -m minipipe.guarded", "deps": ["minipipe"]}
    (mini / "dvc.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    stage = {stage.name: stage for stage in load_stages(mini / "dvc.yaml")}["guarded"]
    assert sorted(stage_code(stage, mini)) == ["minipipe/__init__.py", "minipipe/guarded.py", "minipipe/late.py",
                                               "minipipe/util.py"]  # the else branch runs; the body does not


def test_follows_relative_and_function_level_imports_but_not_type_checking_ones() -> None:
    stages = {stage.name: stage for stage in load_stages(FIXTURE / "dvc.yaml")}
    build = stage_code(stages["build"], FIXTURE)
    assert sorted(build) == ["minipipe/__init__.py", "minipipe/build.py", "minipipe/helpers/__init__.py",
                             "minipipe/helpers/text.py", "minipipe/util.py"]  # not typing_only.py, unused.py
    assert build["minipipe/util.py"] == ("-m minipipe.build", "minipipe/build.py:5", "minipipe/util.py")
    train = stage_code(stages["train"], FIXTURE)
    # `from .helpers import text` inside main(), then `from ..util import double` two packages up
    assert train["minipipe/util.py"] == ("-m minipipe.train", "minipipe/train.py:5", "minipipe/helpers/text.py:1",
                                         "minipipe/util.py")
    assert "minipipe/build.py" not in train


def test_matrix_stage_expands_params_and_drops_item_data_paths() -> None:
    train = {stage.name: stage for stage in load_stages(FIXTURE / "dvc.yaml")}["train"]
    assert train.cmds == ("python -m minipipe.train --seed ${item.seed}",)  # ${launcher} from params.yaml
    assert train.deps == ("minipipe", "minipipe/unused.py")  # data/${item.seed}.txt is data, never code


def test_entry_points_of_commands() -> None:
    assert list(entry_points("accelerate launch --num_processes 2 -m stages.intermediate --arm a")) == [
        ("module", "stages.intermediate")]
    assert list(entry_points("python -mstages.score && python tools/report.py --out x")) == [
        ("module", "stages.score"), ("script", "tools/report.py")]
    assert list(entry_points("dvc exp show")) == []


def test_over_declared_code_deps_are_listed() -> None:
    report = over_declared_deps(FIXTURE / "dvc.yaml", FIXTURE)
    assert report == {"train": [("minipipe", ["minipipe/build.py", "minipipe/typing_only.py", "minipipe/unused.py"]),
                                ("minipipe/unused.py", ["minipipe/unused.py"])]}
    assert format_over_declared(report) == (
        "stage 'train': dep minipipe never imports 3 of its files: minipipe/build.py, minipipe/typing_only.py, "
        "minipipe/unused.py\n"
        "stage 'train': dep minipipe/unused.py never imported")


def test_only_python_source_deps_are_judged(mini: Path) -> None:
    """Data files, a .py dep that does not exist, non-Python files and bytecode caches under a code folder are not
    judged; a data dep listed first does not stop the deps after it from being judged."""
    _write(mini, "data/input.txt", "x")
    _write(mini, "minipipe/README.md", "notes")
    _write(mini, "minipipe/__pycache__/stale.py")
    document = yaml.safe_load((mini / "dvc.yaml").read_text(encoding="utf-8"))
    document["stages"]["train"]["deps"] = ["data/input.txt", "minipipe/missing.py", *document["stages"]["train"]["deps"]]
    (mini / "dvc.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    assert over_declared_deps(mini / "dvc.yaml", mini) == {
        "train": [("minipipe", ["minipipe/build.py", "minipipe/typing_only.py", "minipipe/unused.py"]),
                  ("minipipe/unused.py", ["minipipe/unused.py"])]}


# ---------------------------------------------------------------- the real pipeline


def test_every_stage_declares_the_code_it_imports() -> None:
    report = undeclared_imports(REPO / "dvc.yaml", REPO)
    assert report == {}, "dvc.yaml misses code deps (add each file, or a folder above it):\n" + \
        format_undeclared(report)


def test_every_stage_runs_project_code() -> None:
    """Guards the checker itself: a stage whose entry module it cannot find would pass trivially."""
    for stage in load_stages(REPO / "dvc.yaml"):
        code = stage_code(stage, REPO)
        entries = [target for cmd in stage.cmds for _, target in entry_points(cmd)]
        assert entries, f"stage {stage.name!r}: no `-m module` or script in {stage.cmds}"
        for target in entries:
            path = target if target.endswith(".py") else target.replace(".", "/")
            assert {path, f"{path}.py", f"{path}/__init__.py"} & set(code), f"stage {stage.name!r}: {target} not found"


def _never_imported_file_deps(report: dict[str, list[tuple[str, list[str]]]]) -> dict[str, list[str]]:
    """The over-declared deps that name one Python file the stage never imports (a folder dep is a choice)."""
    found = {stage: [dep for dep, unused in extra if unused == [dep]] for stage, extra in report.items()}
    return {stage: deps for stage, deps in found.items() if deps}


def test_a_listed_file_the_stage_never_imports_is_an_error_a_folder_only_a_warning() -> None:
    """A single .py dep that the stage never imports is a mistake (a stale line of dvc.yaml, or an import that
    moved): it fails. Unused files under a folder dep only warn (see the module docstring). The fixture proves the
    check can fail: its ``train`` stage lists ``minipipe/unused.py``."""
    assert _never_imported_file_deps(over_declared_deps(FIXTURE / "dvc.yaml", FIXTURE)) == {
        "train": ["minipipe/unused.py"]}
    report = over_declared_deps(REPO / "dvc.yaml", REPO)
    assert _never_imported_file_deps(report) == {}, "dvc.yaml lists code files a stage never imports:\n" + \
        format_over_declared(report)
    if report:
        warnings.warn("code deps a stage never imports (a change there re-runs it for nothing):\n"
                      + format_over_declared(report), stacklevel=1)


def test_entry_forms_vars_and_package_imports_on_a_project_built_here(tmp_path: Path) -> None:
    """``python -m pkg`` (its __init__ and __main__), a script, ``-mpkg.mod``, commands joined by ; || | &&, a
    missing script, params and ``vars`` (a dict and ``file.yaml:key``) in cmd and deps, list indices in and out of
    range, relative imports from a package's __init__, one beyond the top-level package, and ``import *``."""
    files = {
        "params.yaml": "launcher: python\nseeds: [3, 4]\nscripts: {main: tools/run.py}\n",
        "extra.yaml": "pkgname: app\nunused: 1\n",
        "app/__init__.py": "from . import core\n",
        "app/__main__.py": "from .cli import main\n",
        "app/core.py": "",
        "app/cli.py": "from ... import nothing\nfrom .sub import *\nfrom app.sub import tool\nfrom .. import outside\n"
                      "\n\ndef main():\n    pass\n",
        "outside.py": "",  # `from .. import outside` in the top-level package is an ImportError: never followed
        "app/sub/__init__.py": "",
        "app/sub/tool.py": "",
        "tools/run.py": "import app.core\n",
    }
    _build(tmp_path, files, {
        "vars": ["extra.yaml:pkgname", {"mod": "app.cli"}],
        "stages": {
            "pkgmain": {"cmd": "${launcher} -m ${pkgname}", "deps": ["app", "data/${seeds.2}.txt", "data/${seeds.1}.txt"]},
            "script": {"cmd": "echo start; python ${scripts.main} --seed ${seeds.0} || python missing.py | cat "
                              "&& python -m${mod} -m", "deps": ["tools/run.py", "app/"]},
        }})
    stages = {stage.name: stage for stage in load_stages(tmp_path / "dvc.yaml")}
    assert stages["pkgmain"].cmds == ("python -m app",)
    assert stages["pkgmain"].deps == ("app", "data/4.txt")  # ${seeds.2} is out of range: not resolved, dropped
    assert stages["script"].cmds == ("echo start; python tools/run.py --seed 3 || python missing.py | cat && "
                                     "python -mapp.cli -m",)
    assert list(entry_points(stages["script"].cmds[0])) == [
        ("script", "tools/run.py"), ("script", "missing.py"), ("module", "app.cli")]
    assert stage_code(stages["pkgmain"], tmp_path) == {
        "app/__init__.py": ("-m app", "app/__init__.py"),
        "app/__main__.py": ("-m app", "app/__main__.py"),
        "app/core.py": ("-m app", "app/__init__.py:1", "app/core.py"),
        "app/cli.py": ("-m app", "app/__main__.py:1", "app/cli.py"),
        "app/sub/__init__.py": ("-m app", "app/__main__.py:1", "app/cli.py:2", "app/sub/__init__.py"),
        "app/sub/tool.py": ("-m app", "app/__main__.py:1", "app/cli.py:3", "app/sub/tool.py"),
    }
    script = stage_code(stages["script"], tmp_path)
    assert script["tools/run.py"] == ("tools/run.py", "tools/run.py")
    assert script["app/core.py"] == ("tools/run.py", "tools/run.py:1", "app/core.py")
    assert script["app/cli.py"] == ("-m app.cli", "app/cli.py")
    assert "missing.py" not in script and "app/__main__.py" not in script and "outside.py" not in script
    assert undeclared_imports(tmp_path / "dvc.yaml", tmp_path) == {}


def test_foreach_stage_with_its_do_body_wdir_and_nested_package_imports(tmp_path: Path) -> None:
    """A ``foreach``/``do`` stage (as dvc.yaml's prefix stages are written) is read from its ``do`` body: a list of
    commands, a ``wdir`` from a ``vars`` file (``.yml``, after a ``vars`` mapping), deps relative to it (one written
    as a mapping, one through ``..``, one through a key of a string: unresolved; a
    wdir that depends on the item falls back to the root); relative imports in a nested
    package's __init__ resolve from that package, and ``-m pkg.sub`` runs pkg/sub/__main__.py."""
    files = {
        "params.yaml": "launcher: python\n",
        "more.yml": "sub: work\n",
        "work/run.py": "import app.pkg\n",
        "work/app/__init__.py": "",
        "work/app/pkg/__init__.py": "from . import helper\nfrom .. import top\n",
        "work/app/pkg/__main__.py": "",
        "work/app/pkg/helper.py": "",
        "work/app/top.py": "",
    }
    _build(tmp_path, files, {
        "vars": [{"unused": 0}, "more.yml"],
        "stages": {"each": {"foreach": [1, 2], "do": {
            "cmd": ["echo ${item}", "${launcher} run.py --n ${item}", "python -m app.pkg"], "wdir": "${sub}",
            "deps": ["run.py", "app/", {"app/top.py": None}, "../more.yml", "data/${item}.txt",
                     "${launcher.y}/z.py"]}},  # "y" is in the string "python", but a string has no keys
        "by_item": {"foreach": [1], "do": {"cmd": "python run.py", "wdir": "${item}"}}}})
    stage, by_item = load_stages(tmp_path / "dvc.yaml")
    assert by_item.wdir == "."  # a wdir that depends on the item: the repository root
    assert (stage.name, stage.wdir) == ("each", "work")
    assert stage.cmds == ("echo ${item}", "python run.py --n ${item}", "python -m app.pkg")
    assert stage.deps == ("work/run.py", "work/app", "work/app/top.py", "more.yml")
    entry = ("-m app.pkg",)
    assert stage_code(stage, tmp_path) == {
        "work/run.py": ("run.py", "work/run.py"),
        "work/app/__init__.py": entry + ("work/app/__init__.py",),
        "work/app/pkg/__init__.py": entry + ("work/app/pkg/__init__.py",),
        "work/app/pkg/__main__.py": entry + ("work/app/pkg/__main__.py",),
        "work/app/pkg/helper.py": entry + ("work/app/pkg/__init__.py:1", "work/app/pkg/helper.py"),
        "work/app/top.py": entry + ("work/app/pkg/__init__.py:2", "work/app/top.py"),
    }
    assert undeclared_imports(tmp_path / "dvc.yaml", tmp_path) == {}


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    """Parsed imports are cached per file version: an edit that keeps the size, or one that keeps the mtime, is
    still seen."""
    import os

    _write(tmp_path, "run.py", "import aa\n")
    for rel in ("aa.py", "bb.py", "cc.py"):
        _write(tmp_path, rel, "")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": {"cmd": "python run.py", "deps": []}}}),
                                       encoding="utf-8")
    (stage,) = load_stages(tmp_path / "dvc.yaml")
    script = tmp_path / "run.py"
    assert "aa.py" in stage_code(stage, tmp_path)
    before = script.stat().st_mtime_ns
    script.write_text("import bb\n", encoding="utf-8")  # same size
    os.utime(script, ns=(before + 10**9, before + 10**9))
    assert "bb.py" in stage_code(stage, tmp_path) and "aa.py" not in stage_code(stage, tmp_path)
    kept = script.stat().st_mtime_ns
    script.write_text("import cc, aa\n", encoding="utf-8")  # another size, the same mtime
    os.utime(script, ns=(kept, kept))
    assert {"aa.py", "cc.py"} <= set(stage_code(stage, tmp_path))


def test_entry_points_without_spaces_odd_quotes_and_option_values() -> None:
    assert list(entry_points("python a.py|python -m b&&python c.py;python -mx")) == [
        ("script", "a.py"), ("module", "b"), ("script", "c.py"), ("module", "x")]
    assert list(entry_points('python run.py --msg "unclosed')) == [("script", "run.py")]  # shlex fails: split
    assert list(entry_points("python tool.py --config=conf.py")) == [("script", "tool.py")]
