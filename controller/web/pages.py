"""The HTML pages: one layout (`templates/layout.html`: head, navigation) around each page's own `<main>`
(`templates/<page>.html`), with the page's scripts; rendered once, served as they are (all data comes from
the JSON API, so a page holds nothing that needs a login)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Page:
    template: str
    title: str
    access: str  # "public", "status" (public when the board says so) or "private"
    scripts: tuple[str, ...]
    nav: str = ""  # its label in the navigation ("" = not listed)


PAGES: dict[str, Page] = {
    "/": Page("status.html", "Status", "status", ("common.js", "plot.js", "status.js"), "Status"),
    "/sessions": Page("sessions.html", "Sessions", "private", ("common.js", "sessions.js"), "Sessions"),
    "/config": Page("config.html", "Configuration", "private", ("common.js", "config.js"), "Configuration"),
    "/login": Page("login.html", "Log in", "public", ("common.js", "login.js")),
}


def render(path: str) -> str:
    """The full HTML of the page at `path`."""
    page = PAGES[path]
    here = ' class="here"'
    nav = "\n    ".join(
        f'<a href="{p}"{here if p == path else ""}>{escape(other.nav)}</a>' for p, other in PAGES.items() if other.nav
    )
    scripts = "\n".join(f'<script src="/static/{s}"></script>' for s in page.scripts)
    layout = Template((TEMPLATES / "layout.html").read_text(encoding="utf-8"))
    main = (TEMPLATES / page.template).read_text(encoding="utf-8").rstrip("\n")
    return layout.substitute(title=escape(page.title), nav=nav, main=main, scripts=scripts)
