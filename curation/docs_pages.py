"""The Markdown pages under docs/, rendered for the app's help (`/help/`).

Only the pages that exist in the docs folder can be named, so no path from a URL ever reaches
the file system. Raw HTML in a page is shown as text, not rendered; links between pages go to
their help URL, and links to files outside docs/ (the top-level README, `.env.example`) keep
only their text, since the app does not serve those files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token

INDEX = "README"
SCREENSHOTS = "screenshots"
_PAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.(png|jpe?g|gif|webp)$")
# A table cell with this many characters of text or more is prose (a few words at least),
# and with VERY_LONG_CELL or more a paragraph, given a wider column on a phone.
LONG_CELL = 30
VERY_LONG_CELL = 200
# Inline code this long (an environment variable, a test's name, a URL) may wrap after "_" or "/".
LONG_CODE = 16
_AFTER_SEPARATOR = re.compile(r"(?<=[_/])(?=[^_/])")


@dataclass(frozen=True)
class DocsPage:
    name: str
    title: str
    html: str


def page_names(docs_dir: Path) -> list[str]:
    """The help pages other than the index, by file name without `.md`."""
    return sorted(
        path.stem
        for path in docs_dir.glob("*.md")
        if path.is_file() and _PAGE_NAME.match(path.stem)
    )


def screenshot_path(docs_dir: Path, name: str) -> Path | None:
    """The screenshot called `name`, if docs/screenshots holds one (never anything else)."""
    folder = docs_dir / SCREENSHOTS
    if not _IMAGE_NAME.match(name) or not folder.is_dir():
        return None
    found = {path.name: path for path in folder.iterdir() if path.is_file()}
    return found.get(name)


def render_page(
    docs_dir: Path,
    name: str,
    *,
    page_url: Callable[[str], str],
    screenshot_url: Callable[[str], str],
) -> DocsPage | None:
    """The page `name` (INDEX for docs/README.md) as safe HTML, or None if there is none."""
    if name != INDEX and name not in page_names(docs_dir):
        return None
    path = docs_dir / f"{name}.md"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    pages = set(page_names(docs_dir))

    def link_target(href: str) -> str | None:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path:
            return href  # an outside address or an anchor in this page
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        target = parts.path.removeprefix("./")
        if target == f"{INDEX}.md":
            return page_url(INDEX) + fragment
        if target.endswith(".md") and target[:-3] in pages:
            return page_url(target[:-3]) + fragment
        return None

    def image_target(src: str) -> str | None:
        target = urlsplit(src).path.removeprefix("./")
        folder, _, file_name = target.rpartition("/")
        if folder == SCREENSHOTS and screenshot_path(docs_dir, file_name):
            return screenshot_url(file_name)
        return None

    parser = _parser(link_target, image_target)
    html = parser.render(text)
    return DocsPage(name=name, title=_title(parser, text) or name, html=html)


def _parser(
    link_target: Callable[[str], str | None], image_target: Callable[[str], str | None]
) -> MarkdownIt:
    # html=False: raw HTML in a page is escaped and shown as text.
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")

    def rewrite(state: Any) -> None:
        slugs: dict[str, int] = {}
        for index, token in enumerate(state.tokens):
            if token.type == "heading_open":
                inline = state.tokens[index + 1]
                token.attrSet("id", _unique(_slug(_plain(inline)), slugs))
            if token.type in ("th_open", "td_open"):
                # A cell of prose is marked, so that on a phone its column keeps a readable
                # width (the table scrolls in its box) while short cells (numbers) stay narrow.
                length = len(_plain(state.tokens[index + 1]))
                if length >= LONG_CELL:
                    token.attrJoin("class", "long")
                if length >= VERY_LONG_CELL:
                    token.attrJoin("class", "very-long")
            if token.type == "inline" and token.children:
                token.children = _rewrite_inline(token.children, link_target, image_target)

    parser.core.ruler.push("help_links", rewrite)

    def table_open(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
        # Wide tables scroll inside their box, so the page never scrolls sideways on a phone.
        return '<div class="table-scroll">' + self.renderToken(tokens, idx, options, env)

    def table_close(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
        return self.renderToken(tokens, idx, options, env) + "</div>\n"

    def code_inline(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
        # A long identifier, path or URL may break after "_" or "/" (<wbr> adds no character,
        # so it copies whole), not at any letter, where its column or line is too narrow.
        token = tokens[idx]
        parts = [token.content]
        if len(token.content) >= LONG_CODE:
            parts = _AFTER_SEPARATOR.split(token.content)
        text = "<wbr>".join(escapeHtml(part) for part in parts)
        return f"<code{self.renderAttrs(token)}>{text}</code>"

    parser.add_render_rule("code_inline", code_inline)
    parser.add_render_rule("table_open", table_open)
    parser.add_render_rule("table_close", table_close)
    return parser


def _rewrite_inline(
    children: list[Token],
    link_target: Callable[[str], str | None],
    image_target: Callable[[str], str | None],
) -> list[Token]:
    kept: list[Token] = []
    dropping_link = False
    for child in children:
        if child.type == "link_open":
            target = link_target(str(child.attrGet("href") or ""))
            if target is None:
                dropping_link = True
                continue
            child.attrSet("href", target)
        elif child.type == "link_close" and dropping_link:
            dropping_link = False
            continue
        elif child.type == "image":
            target = image_target(str(child.attrGet("src") or ""))
            if target is None:
                text = Token("text", "", 0)
                text.content = child.content
                kept.append(text)
                continue
            child.attrSet("src", target)
        kept.append(child)
    return kept


def _plain(inline: Token) -> str:
    return "".join(
        child.content for child in inline.children or [] if child.type in ("text", "code_inline")
    )


def _slug(text: str) -> str:
    """GitHub's heading anchors, which the pages' `#…` links were written against."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _unique(slug: str, seen: dict[str, int]) -> str:
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def _title(parser: MarkdownIt, text: str) -> str | None:
    tokens = parser.parse(text)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1":
            return _plain(tokens[index + 1])
    return None
