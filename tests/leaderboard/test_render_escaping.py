"""README.md and the markdown export never pass raw HTML from labels, notes or errors (issue #17, item 3)."""
import re

from bench.leaderboard.render import render_readme, to_markdown

EVIL = "<img src=x onerror=alert(1)>"


def raw_html_openings(text: str) -> list[str]:
    """Each ``<`` that markdown would read as the start of raw HTML: outside code spans (whose
    content is literal), not backslash-escaped (an odd number of backslashes before it) and
    followed by a tag, comment or declaration."""
    text = re.sub(r"`[^`\n]*`", "", text)
    found = []
    for m in re.finditer(r"<[A-Za-z!/?]", text):
        slashes = len(text[:m.start()]) - len(text[:m.start()].rstrip("\\"))
        if slashes % 2 == 0:
            found.append(text[m.start():m.start() + 20])
    return found


def test_markdown_table_escapes_html_in_labels(make_row):
    table = to_markdown([make_row(EVIL), make_row("x\\" + EVIL, seed=1)])  # a backslash must not undo the escape
    assert raw_html_openings(table) == []
    assert "\\<img src=x onerror=alert(1)>" in table  # still readable: renders as the literal label


def test_readme_escapes_html_in_notes_labels_errors_and_backticked_ids(make_row):
    rows = [make_row(EVIL, errors=("attack failed: <script>alert(1)</script>",)),
            make_row("a`<b>`", seed=1, errors=("boom",))]  # a backtick would close the row id's code span
    readme = render_readme(rows, "quick", "v1", "now", notes=f"see <b>this</b> and \\{EVIL}\n\n**bold** stays")
    assert raw_html_openings(readme) == []
    assert "**bold** stays" in readme  # notes keep their markdown
    assert "&lt;b>this&lt;/b>" in readme
    assert "- digits/mlp/a`\\<b>`/seed1: boom" in readme
