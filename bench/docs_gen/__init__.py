"""The component reference, generated from the specs and the ``Config`` classes.

``render_reference(kind)`` returns one kind's reference page (markdown) for the components of the
built-in distributions (core plus ``plugins/builtin.txt``); :data:`PAGES` says where each page lives.
Regenerate the committed pages (and the README's headline table and figure) with::

    python -m bench.docs_gen --write    # docs/attacks.md, docs/reference/*.md, the README's headline
                                        # table and figure, the user guide's component list
    python -m bench.docs_gen --check    # exit 1 naming the stale files (what the test checks)

``robarena ls KIND --long`` prints the same information for every installed component, third-party
plugins included. Nothing here imports torch until a component's implementation is loaded.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

from bench.docs_gen.components import ComponentDoc, describe
from bench.docs_gen.render import component_markdown, index_markdown, params_markdown

REGENERATE = "python -m bench.docs_gen --write"
GENERATED_MARK = f"<!-- Generated from the specs and Config classes by `{REGENERATE}`; do not edit by hand. -->"
CORE_DISTRIBUTION = "robarena"


@dataclass(frozen=True)
class Page:
    """A reference page: its path in the repository, title, what a component is called, intro."""

    path: str
    title: str
    what: str
    intro: str


PAGES: dict[str, Page] = {
    "attack": Page("docs/attacks.md", "Attack reference", "attack", (
        "Every attack of robarena's built-in plugins. In a suite an attack is an `[[attacks]]` entry: `id`, "
        "the threat model (`norm`, `eps`, `targeted`) and `params`, the parameters below; `robarena eval` takes "
        "`--attack ID:NORM:EPS[:K=V,...]`. A default shown as *scales with eps* is computed from each threat "
        "model's radius, so one setting serves every eps of a sweep. Choosing attacks and reading their "
        "intervals and flags: [user guide]({docs}user-guide.md), [statistics]({docs}statistics.md).")),
    "defense": Page("docs/reference/defenses.md", "Defense reference", "defense", (
        "Every training recipe and model wrapper of robarena's built-in plugins. In a suite a defense is a "
        "`[[defenses]]` entry with `params` (below) and an optional `train` table of overrides of the suite's "
        "`[train]` budget, which every defense gets (its keys are [at the end of this page](#training-budget-train)). "
        "Measured results and the papers' settings: [defenses]({docs}defenses.md).")),
    "probe": Page("docs/reference/probes.md", "Probe reference", "probe", (
        "Every probe of robarena's built-in plugins. In a suite a probe is a `[[probes]]` entry with `params` "
        "(below); each declared column becomes the leaderboard column `<label>.<column>`. Definitions and "
        "measured values: [probes]({docs}probes.md).")),
    "task": Page("docs/reference/tasks.md", "Task reference", "task", (
        "Every per-model task of robarena's built-in plugins. In a suite a task is a `[[tasks]]` entry with "
        "`params` (below); its columns become `<label>.<column>` and its artifacts are filed with the row. "
        "What each task measures and its evidence: [tasks]({docs}tasks.md).")),
    "dataset": Page("docs/reference/datasets.md", "Dataset reference", "dataset", (
        "Every dataset of robarena's built-in plugins. In a suite a dataset is a `[[datasets]]` entry with "
        "`params` (below); `robarena eval` takes `--dataset ID[:K=V,...]`. Files, provenance, subsets and "
        "augmentation: [datasets]({docs}datasets.md).")),
    "model": Page("docs/reference/models.md", "Model reference", "model", (
        "Every registered architecture of robarena's built-in plugins. In a suite a model is a `[[models]]` "
        "entry with `params` (below), or a `[[pretrained]]` entry whose `arch_params` are the same parameters. "
        "Not listed: `timm/<name>` resolves any timm architecture (created with `pretrained = False`), and "
        "`package.module:factory` calls a marked factory: see [bring your own model]({docs}user-guide.md).")),
}


def repo_root() -> Path:
    """The source checkout this ``bench`` was imported from (``README.md`` and ``plugins/`` beside it)."""
    return Path(__file__).resolve().parents[2]


def builtin_distributions(root: Union[str, Path, None] = None) -> set[str]:
    """The core and the distributions that ``plugins/builtin.txt`` installs (read from their pyproject)."""
    root = Path(root) if root is not None else repo_root()
    names = {CORE_DISTRIBUTION}
    listing = root / "plugins" / "builtin.txt"
    for line in listing.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        path = line[2:].strip() if line.startswith("-e") else line
        if not path:
            continue
        pyproject = (root / path / "pyproject.toml")
        text = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
        found = re.search(r'^\[project\][^\[]*?^name\s*=\s*"([^"]+)"', text, re.MULTILINE | re.DOTALL)
        if found:
            names.add(found.group(1))
    return names


def _registry(registry=None):
    if registry is not None:
        return registry
    from bench.registry import get_registry

    return get_registry((), autoload=True)


def component_docs(kind: str, registry=None, distributions: Optional[Iterable[str]] = None) -> list[ComponentDoc]:
    """The :class:`ComponentDoc` of every registered ``kind`` component (of ``distributions`` only,
    when given), by qualified id."""
    wanted = set(distributions) if distributions is not None else None
    entries = _registry(registry).entries(kind)
    return [describe(e) for e in entries if wanted is None or e.plugin.distribution in wanted]


def render_reference(kind: str, registry=None, distributions: Optional[Iterable[str]] = None) -> str:
    """The markdown reference page of ``kind`` (``"attack"``, ``"defense"``, ``"probe"``, ``"task"``,
    ``"dataset"``, ``"model"``). Default: the built-in distributions' components."""
    if kind not in PAGES:
        raise ValueError(f"no reference page for kind {kind!r}; use one of {', '.join(PAGES)}")
    page = PAGES[kind]
    if distributions is None:
        distributions = builtin_distributions()
    docs = component_docs(kind, registry, distributions)
    to_docs = os.path.relpath("docs", os.path.dirname(page.path)).replace(os.sep, "/")
    to_docs = "" if to_docs == "." else to_docs + "/"
    lines = [GENERATED_MARK, "", f"# {page.title}", "", page.intro.format(docs=to_docs), "",
             f"{len(docs)} {page.what}{'' if len(docs) == 1 else 's'}, by qualified id "
             f"(`robarena ls {page.what}s --long` prints the same in a terminal):", ""]
    lines += index_markdown(docs, page.what)
    for doc in docs:
        lines += component_markdown(doc)
    if kind == "defense":
        lines += _train_section()
    return "\n".join(lines).rstrip() + "\n"


def _train_section() -> list[str]:
    from bench.config import TrainConfig
    from bench.docs_gen.components import config_note
    from bench.docs_gen.fields import params_of

    doc = ComponentDoc(qualified_id="train", kind="train", version="", distribution="", summary="", paper=None,
                       target="", config="TrainConfig", config_note=config_note(TrainConfig),
                       params=params_of(TrainConfig))
    return ["## Training budget ([train])", "",
            "The suite's `[train]` table, given to every defense; a `[[models]]` or `[[defenses]]` entry's "
            "`train` table overrides keys for that entry.", ""] + params_markdown(doc)


def reference_pages(registry=None, distributions: Optional[Iterable[str]] = None) -> dict[str, str]:
    """Repository path -> expected text of every reference page."""
    distributions = builtin_distributions() if distributions is None else set(distributions)
    return {page.path: render_reference(kind, registry, distributions) for kind, page in PAGES.items()}


def expected_files(root: Union[str, Path, None] = None, registry=None) -> dict[str, Union[str, bytes]]:
    """Repository path -> generated content: every reference page, README.md and the user guide with
    their generated blocks (headline table, component list) regenerated, and the headline figure (PNG)."""
    from bench.docs_gen import lists, readme

    root = Path(root) if root is not None else repo_root()
    distributions = builtin_distributions(root)
    out: dict[str, Union[str, bytes]] = dict(reference_pages(registry, distributions))
    rows = readme.load_rows(root)
    current = (root / "README.md").read_text(encoding="utf-8")
    out["README.md"] = readme.replace_block(current, readme.headline_table(rows, readme.latest_version(root)))
    guide = (root / lists.USER_GUIDE).read_text(encoding="utf-8")
    out[lists.USER_GUIDE] = readme.replace_block(guide, lists.component_list(_registry(registry), distributions),
                                                 where=lists.USER_GUIDE, begin=lists.BEGIN, end=lists.END)
    out[readme.FIGURE] = readme.figure_png(rows)
    return out


def stale_files(root: Union[str, Path, None] = None, registry=None,
                expected: Optional[dict[str, Union[str, bytes]]] = None) -> list[str]:
    """The generated files under ``root`` that are missing or differ from what the generator makes now.

    The figure is only required to exist: its bytes depend on the matplotlib version that drew it."""
    from bench.docs_gen import readme

    root = Path(root) if root is not None else repo_root()
    expected = expected_files(root, registry) if expected is None else expected
    stale = []
    for path, content in expected.items():
        target = root / path
        if not target.is_file():
            stale.append(path)
        elif path == readme.FIGURE:
            continue
        elif target.read_text(encoding="utf-8") != content:
            stale.append(path)
    return stale


def write_files(root: Union[str, Path, None] = None, registry=None) -> list[str]:
    """Write every generated file that changed; returns their paths."""
    root = Path(root) if root is not None else repo_root()
    written = []
    for path, content in expected_files(root, registry).items():
        target = root / path
        data = content.encode("utf-8") if isinstance(content, str) else content
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(path)
    return written
