"""A help page's table is rendered inside its own scrolling box, its cells of prose are
marked so that the stylesheet keeps their columns readable on a phone while short cells (a
number, a name) stay narrow, and long inline code may wrap after "_" or "/". The layout itself
is checked in a browser by tests/browser/test_help_pages_mobile.py."""

from __future__ import annotations

from pathlib import Path

from curation.docs_pages import render_page

TABLE = """# Limits

| setting | default | what it does |
| --- | ---: | --- |
| `CURATOR_EVAL_TIMEOUT` | 60 | How long one request to the model may take before it is retried. |
| short | 5 | {paragraph} |
"""


def rendered(tmp_path: Path, text: str) -> str:
    (tmp_path / "limits.md").write_text(text)
    page = render_page(tmp_path, "limits", page_url=str, screenshot_url=str)
    assert page is not None
    return page.html


def test_a_table_sits_in_its_own_scrolling_box(tmp_path: Path) -> None:
    html = rendered(tmp_path, TABLE.format(paragraph="x"))

    assert html.count('<div class="table-scroll"><table>') == 1
    assert html.count("</table>\n</div>") == 1


def test_cells_of_prose_are_marked_long_and_a_paragraph_very_long(tmp_path: Path) -> None:
    paragraph = "A sentence of about fifty characters, repeated. " * 5
    html = rendered(tmp_path, TABLE.format(paragraph=paragraph.strip()))

    assert '<td class="long">How long one request' in html
    assert '<td class="long very-long">A sentence' in html
    # A setting's name, a number and a one-word cell stay unmarked, however the column aligns.
    assert "<td><code>CURATOR_<wbr>EVAL_<wbr>TIMEOUT</code></td>" in html
    assert '<td style="text-align:right">60</td>' in html
    assert "<td>short</td>" in html
    assert html.count('class="long') == 2


def test_a_long_identifier_or_url_may_wrap_after_its_underscores_and_slashes(
    tmp_path: Path,
) -> None:
    html = rendered(
        tmp_path,
        "# Limits\n\nSet `CURATOR_ALLOW_PAID_DEPLOYMENTS`, `AZURE_RESOURCE_GROUP`, `n_epochs` and "
        "`https://example.com/help/<page>/`.\n",
    )

    assert "<code>CURATOR_<wbr>ALLOW_<wbr>PAID_<wbr>DEPLOYMENTS</code>" in html
    assert "<code>https://<wbr>example.com/<wbr>help/<wbr>&lt;page&gt;/</code>" in html
    assert "<code>AZURE_<wbr>RESOURCE_<wbr>GROUP</code>" in html
    assert "<code>n_epochs</code>" in html  # short code stays whole
