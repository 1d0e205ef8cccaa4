"""The generated documentation: component reference, README headline, user guide's component list.

The first test is the staleness check: it regenerates every generated file in memory and fails,
naming the files and the command, when a committed one differs.
"""
from __future__ import annotations

import difflib
import re
import struct
from pathlib import Path
from typing import Literal, Optional

import pytest
from pydantic import Field

from bench.config import BaseConfig
from bench.docs_gen import (PAGES, REGENERATE, builtin_distributions, expected_files, render_reference, repo_root,
                            stale_files)
from bench.docs_gen import readme
from bench.docs_gen.components import describe, spec_facts
from bench.docs_gen.fields import SCALES, params_of, value_text
from bench.docs_gen.render import component_markdown, component_text, slug
from bench.eps import Eps, EpsOrZero
from bench.plugins import PluginInfo
from bench.registry import Entry, get_registry
from bench.specs import AttackSpec, Paper
from bench.steps import Steps

ROOT = repo_root()


def test_committed_generated_docs_are_current():
    expected = expected_files(ROOT)
    stale = stale_files(ROOT, expected=expected)
    details = []
    for path in stale:
        target = ROOT / path
        if target.is_file() and isinstance(expected[path], str):
            diff = difflib.unified_diff(target.read_text(encoding="utf-8").splitlines(),
                                        expected[path].splitlines(), path, "generated", n=0, lineterm="")
            details.append("\n".join(list(diff)[:12]))
    assert not stale, (f"stale generated docs: {', '.join(stale)}; regenerate them with `{REGENERATE}` "
                       "and commit the result\n" + "\n".join(details))


def test_every_reference_page_is_linked_from_the_readme_and_lists_every_builtin_component():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for kind, page in PAGES.items():
        assert f"]({page.path})" in text, f"README.md does not link {page.path}"
        body = (ROOT / page.path).read_text(encoding="utf-8")
        ids = [e.qualified_id for e in get_registry((), autoload=True).entries(kind)
               if e.plugin.distribution in builtin_distributions(ROOT)]
        assert ids, kind
        for qid in ids:
            assert f"\n## {qid}\n" in body, f"{page.path} lacks {qid}"


# --------------------------------------------------------------------------- fields
class _Demo(BaseConfig):
    """Parameters of ``Demo`` (defaults: the paper)."""

    eps: Eps = Field(Eps("8/255"), description="radius of the ball")
    radii: list[EpsOrZero] = Field([Eps("0", allow_zero=True), Eps(2 / 255)], min_length=1, description="sweep")
    steps: Steps = Field(20, description="iterations")
    step_size: Optional[float] = Field(None, gt=0, description="step; None = 2.5 * eps / steps")
    absolute: Optional[float] = Field(2 / 255, gt=0, description="step (P0: 2/255); None = 2.5 * eps / steps")
    fraction: float = Field(0.25, gt=0, le=1, description="step as a fraction of eps")
    penalty: float = Field(64.0, ge=0, description="weight beta in beta * eps * ||g||")
    marked: Optional[float] = Field(None, json_schema_extra={"scales_with_eps": "eps / 4"}, description="marked")
    loss: Literal["ce", "cw"] = Field("ce", description="'ce' | 'cw'")
    root: str = Field(description="where the files are")


def _params():
    return {p.name: p for p in params_of(_Demo)}


def test_field_types_show_constraints_and_none():
    p = _params()
    assert p["eps"].type == "eps > 0" and p["radii"].type == "list[eps >= 0], at least 1 item"
    assert p["steps"].type == "int >= 1"
    assert p["step_size"].type == "float > 0 or None"
    assert p["fraction"].type == "float in (0, 1]"
    assert p["loss"].type == '"ce" / "cw"'


def test_field_defaults_are_shown_as_written():
    p = _params()
    assert p["eps"].default == "8/255"
    assert p["radii"].default == "[0, 2/255]"
    assert p["absolute"].default == "2/255"  # a plain float that is exactly 2/255
    assert p["fraction"].default == "0.25" and p["penalty"].default == "64.0"
    assert p["loss"].default == '"ce"' and p["step_size"].default == "None"
    assert p["root"].default == "required"
    assert value_text(0.1) == "0.1" and value_text(0.2) == "0.2"  # short decimals stay decimals


def test_defaults_that_scale_with_eps_are_marked_and_absolute_ones_are_not():
    p = _params()
    assert p["step_size"].scales == SCALES  # None = 2.5 * eps / steps
    assert p["fraction"].scales == SCALES  # a fraction of eps
    assert p["marked"].scales == "eps / 4"  # stated as data
    assert p["absolute"].scales == ""  # 2/255 whatever eps is
    assert p["penalty"].scales == "" and p["eps"].scales == ""  # mentions eps, but is not relative to it
    assert p["steps"].scales == ""


# --------------------------------------------------------------------------- components
_INFO = PluginInfo("demo", "demo_module", "demo-dist", "1.2")


def _entry(spec) -> Entry:
    return Entry(f"demo/{spec.name}", spec, _INFO)


def test_attack_entry_renders_paper_threat_models_and_parameters():
    spec = AttackSpec(name="pgd", version="3", target="robarena_classics.attacks.pgd:PGD", norms=["L2"],
                      targeted=True, needs_gradients=False, summary="a | b",
                      paper=Paper(title="T", authors="A. B", year=2018, url="https://x.org/1", key="K"))
    doc = describe(_entry(spec))
    md = "\n".join(component_markdown(doc))
    assert md.startswith("## demo/pgd\n\na \\| b\n")
    assert "- **paper:** [T](https://x.org/1), A. B, 2018 (key `K`)" in md
    assert "- **threat models:** L2; untargeted and targeted" in md
    assert "- **needs gradients:** no (gradient-free)" in md
    assert "version `3` from `demo-dist`" in md
    assert "| `steps` | int >= 1 | `20` |" in md
    text = component_text(doc, width=60)
    assert "threat models: L2; untargeted and targeted" in text and "steps: int >= 1 = 20" in text
    assert max(len(line) for line in text.splitlines()) <= 60


def test_a_broken_implementation_is_described_from_its_spec():
    spec = AttackSpec(name="gone", version="1", target="no_such_module_xyz:Gone", norms=["Linf"], summary="s")
    doc = describe(_entry(spec))
    assert "no_such_module_xyz" in doc.error and doc.params == []
    md = "\n".join(component_markdown(doc))
    assert "Parameters unavailable: the implementation could not be imported" in md
    assert "- **threat models:** Linf; untargeted only" in md


def test_spec_fields_without_wording_are_still_listed():
    class FutureSpec(AttackSpec):
        query_budget: int = 1000

    facts = dict(spec_facts(FutureSpec(name="x", version="1", target="a:b", norms=["Linf"])))
    assert facts["query budget"] == "1000" and facts["threat models"] == "Linf; untargeted only"


def test_slug_matches_github_anchors():
    assert slug("classics/pgd-at") == "classicspgd-at" and slug("Training budget ([train])") == "training-budget-train"


def test_render_reference_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="no reference page for kind 'claim'"):
        render_reference("claim")


# --------------------------------------------------------------------------- staleness, builtins
def test_stale_files_names_missing_and_changed_files(tmp_path):
    expected = {"docs/a.md": "A\n", "docs/b.md": "B\n", readme.FIGURE: b"\x89PNG"}
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/a.md").write_text("A\n", encoding="utf-8")
    (tmp_path / "docs/b.md").write_text("B, edited by hand\n", encoding="utf-8")
    assert stale_files(tmp_path, expected=expected) == ["docs/b.md", readme.FIGURE]


def test_builtin_distributions_come_from_builtin_txt(tmp_path):
    (tmp_path / "plugins/one").mkdir(parents=True)
    (tmp_path / "plugins/one/pyproject.toml").write_text('[build-system]\nrequires = []\n\n[project]\n'
                                                         'name = "robarena-one"\nversion = "0.1"\n')
    (tmp_path / "plugins/builtin.txt").write_text("# comment\n-e ./plugins/one\n\n")
    assert builtin_distributions(tmp_path) == {"robarena", "robarena-one"}


# --------------------------------------------------------------------------- ls --long
def test_ls_long_prints_parameters_and_capabilities_within_the_width(capsys, testkit, monkeypatch):
    from bench.cli.main import main

    monkeypatch.setenv("COLUMNS", "60")
    assert main(["-p", "robarena_testkit", "ls", "attacks", "--long"]) == 0
    out = capsys.readouterr().out
    sign = out[out.index("robarena_testkit/sign  v1  local-0"):]  # blocks come by id: escape, noise, sign
    assert "threat models: Linf, L2; untargeted and targeted" in sign
    assert "implementation: robarena_testkit_impl:SignStep" in sign and "steps: int >= 1 = 1" in sign
    noise = out[out.index("robarena_testkit/noise"):out.index("robarena_testkit/sign")]
    assert "needs gradients: no (gradient-free)" in noise and "parameters: none" in noise
    body = out.splitlines()[2:]  # the version and plugins header lines are ls's, not the blocks'
    assert body and max(len(line) for line in body) <= 60


# --------------------------------------------------------------------------- README
def test_headline_table_ranks_rows_with_intervals_from_the_published_snapshot():
    table = readme.headline_table(readme.load_rows(ROOT), readme.latest_version(ROOT))
    lines = table.splitlines()
    assert lines[0].startswith("| rank | model | defense | dataset | clean (%) |")
    assert lines[2].startswith("| 1 | small-cnn | pgd-at | digits | 96.0 [93.9, 97.5] |")
    # standard: 244 of 500 survive both attacks; Clopper-Pearson 95 % interval [44.3, 53.3]
    assert lines[3].startswith("| 2 | small-cnn | standard |") and lines[3].endswith("| **48.8 [44.3, 53.3]** |")


def test_headline_figure_is_a_committed_png_the_readme_shows():
    data = (ROOT / readme.FIGURE).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (640, 400)
    assert f"]({readme.FIGURE})" in (ROOT / "README.md").read_text(encoding="utf-8")


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_readme_links_every_docs_page():
    linked = {link.split("#")[0] for link in _links(ROOT / "README.md")}
    pages = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))
    missing = [p for p in pages if p not in linked]
    assert not missing, f"README.md does not link {missing}"


@pytest.mark.parametrize("doc", ["README.md", "docs/index.md", "docs/user-guide.md"] + [p.path for p in PAGES.values()])
def test_relative_links_resolve_inside_the_repository(doc):
    path = ROOT / doc
    for link in _links(path):
        if re.match(r"^[a-z]+:", link) or link.startswith("#"):
            continue
        target = (path.parent / link.split("#")[0]).resolve()
        assert target.exists(), f"{doc}: link {link} points to nothing"
        assert ROOT in target.parents or target == ROOT, f"{doc}: link {link} leaves the repository"
