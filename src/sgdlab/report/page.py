"""The building blocks of ``sgdlab report``'s one self-contained HTML page (English or Hebrew):
:class:`Page`, tables, figures, escaping (the page itself: :func:`sgdlab.report.render.render`).

Everything interpolated is HTML-escaped; images are ``data:image/png;base64`` URIs; there is no
script, no external style sheet, font or request. The Hebrew page is ``dir="rtl"``; code,
formulas, numbers' tables and figures are set left to right.
"""

from __future__ import annotations

import html
import re
from string import Template
from typing import Any

from sgdlab.report.text import CLASS_NAMES_HE, TEXT

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;max-width:1100px;margin:0 auto;padding:1em 2em;
line-height:1.5;color:#222;background:#fff}
h1{font-size:1.7em;border-bottom:2px solid #36c}h2{margin-top:2em;border-bottom:1px solid #ccc}
code{font-family:"DejaVu Sans Mono",monospace;background:#f3f3f3;padding:0 .25em;
unicode-bidi:isolate}
.formula{font-family:"DejaVu Sans Mono",monospace;background:#f7f7fb;padding:.5em 1em;
display:block;text-align:left}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.2em .6em}th{background:#eef}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums;
font-family:"DejaVu Sans Mono",monospace}
figure{margin:1em 0;text-align:center}figure img{max-width:100%;height:auto}
figcaption{font-size:.9em;color:#555}
.warn{background:#fff3cd;border:1px solid #e0b400;padding:.5em 1em}
.ask{background:#f4f8ff;border-inline-start:4px solid #36c;padding:.4em 1em}
.verdict{background:#f6fff4;border:1px solid #9c9;padding:.2em 1em;text-align:left}
.tables{display:flex;flex-wrap:wrap;column-gap:2em}
.tables h3{font-size:1em;margin:.8em 0 .3em;width:0;min-width:100%}
.tables table{font-size:.8em}.tables td,.tables th{padding:.15em .45em}
code.nw{white-space:nowrap}
nav ol{columns:2}footer{margin-top:3em;font-size:.85em;color:#666}
"""


def esc(v: Any) -> str:
    """HTML-escape any value (quotes too)."""
    return html.escape(str(v), quote=True)


def rich(template: str, **values: Any) -> str:
    """Escape ``template``, turn ```x``` into LTR code and ``**x**`` into bold, then put the
    escaped ``values`` in for ``$name``."""
    s = esc(template)
    s = re.sub(r"`([^`]+)`", _code, s)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    # each value is isolated (<bdi>): "-0.502" or "1.29 ms" keep their order in Hebrew text
    return Template(s).safe_substitute({k: f"<bdi>{esc(v)}</bdi>" for k, v in values.items()})


def _code(m: re.Match) -> str:
    """A code span; short ones never break (a formula split across lines reads wrongly in RTL)."""
    cls = ' class="nw"' if len(m.group(1)) <= 40 else ""
    return f'<code dir="ltr"{cls}>{m.group(1)}</code>'


def table(
    head: list[str],
    rows: list[list[Any]],
    *,
    numeric_from: int = 1,
    ltr: bool = False,
    cls: str = "",
) -> str:
    """A table; ``head`` cells are trusted HTML (from :func:`rich`), body cells are escaped.
    Columns from ``numeric_from`` on are right-aligned figures."""
    d = (' dir="ltr"' if ltr else "") + (f' class="{esc(cls)}"' if cls else "")
    out = [f"<table{d}><thead><tr>", *(f"<th>{h}</th>" for h in head), "</tr></thead><tbody>"]
    for r in rows:
        num = '<td class="n" dir="ltr">{}</td>'
        cells = (
            (num if i >= numeric_from else "<td>{}</td>").format(esc(c)) for i, c in enumerate(r)
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def figure(b64: str, caption: str, alt: str) -> str:
    """An embedded PNG with its caption (``caption`` trusted HTML, ``alt`` escaped)."""
    return (
        f'<figure><img src="data:image/png;base64,{esc(b64)}" alt="{esc(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


class Page:
    """Builds the page section by section in one language."""

    def __init__(self, lang: str):
        self.lang, self.t = lang, TEXT[lang]
        self.parts: list[str] = []
        self.toc: list[tuple[str, str]] = []

    def r(self, key: str, **values: Any) -> str:
        return rich(self.t[key], **values)

    def p(self, key: str, cls: str = "", **values: Any) -> None:
        c = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{c}>{self.r(key, **values)}</p>")

    def h2(self, anchor: str, key: str, **values: Any) -> None:
        title = self.r(key, **values)
        self.toc.append((anchor, title))
        self.parts.append(f'<section id="{esc(anchor)}"><h2>{title}</h2>')

    def end(self) -> None:
        self.parts.append("</section>")

    def qa(self, ask: str, how: str, **values: Any) -> None:
        """The exercise's question and the command that answers it."""
        self.parts.append(
            f'<div class="ask"><p><strong>{self.r("asks")}:</strong> '
            f"{self.r(ask, **values)}</p><p><strong>{self.r('how')}:</strong> "
            f"{self.r(how, **values)}</p></div>"
        )

    def add(self, html_: str) -> None:
        self.parts.append(html_)

    def html(self, title: str, head_html: str) -> str:
        d = "rtl" if self.lang == "he" else "ltr"
        toc = "".join(f'<li><a href="#{esc(a)}">{t}</a></li>' for a, t in self.toc)
        return (
            f'<!DOCTYPE html>\n<html lang="{self.lang}" dir="{d}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{esc(title)}</title>'
            f"<style>{CSS}</style></head><body><header><h1>{esc(title)}</h1>{head_html}"
            f"<nav><strong>{self.r('contents')}</strong><ol>{toc}</ol></nav></header>"
            f"{''.join(self.parts)}</body></html>\n"
        )


def class_name(c: int, name: str, lang: str) -> str:
    return f"{CLASS_NAMES_HE[c]} ({name})" if lang == "he" else name
