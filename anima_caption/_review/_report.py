"""The self-contained HTML dataset report: one file, no network, no external assets.

A card per image (thumbnail as a data URI, the caption with every tag coloured by its
section or policy group, diagnostics), a tag-frequency chart, a group summary and a filter
box (by tag, rule code/slug or file name). The page is rendered here; its small script only
filters and highlights. Everything from the dataset is HTML-escaped.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from anima_caption._kinds import Section
from anima_caption._review._dataset import ReviewRow, ReviewSet
from anima_caption._version import __version__

if TYPE_CHECKING:
    from anima_caption._model import Caption, Tag
    from anima_caption._review._thumbs import Thumbnail

#: How many tags the frequency chart shows.
CHART_TAGS = 40

#: Colours of the sections (Anima's order) and of policy groups.
SECTION_COLOURS = {
    Section.PREFIX.value: "#6b7280",
    Section.COUNT.value: "#0e7490",
    Section.CHARACTER.value: "#b91c1c",
    Section.SERIES.value: "#7c3aed",
    Section.ARTIST.value: "#c2410c",
    Section.GENERAL.value: "#1d4ed8",
}
_EXTRA_COLOURS = ("#047857", "#a16207", "#be185d", "#4338ca", "#0f766e", "#9f1239")
GROUP_COLOURS = {
    "core": "#b91c1c",
    "structural": "#047857",
    "variable": "#1d4ed8",
    "other": "#6b7280",
}

#: How a tag's colour group is chosen: section name by default, or a policy's group.
Grouper = Callable[[ReviewRow, "Tag"], str]


@dataclass(frozen=True)
class ReportOptions:
    """How the report is drawn."""

    title: str = ""
    thumb_box: int = 256
    grouping: str = "section"
    """``section`` or ``policy`` (shown in the legend)."""


def by_section(row: ReviewRow, tag: Tag) -> str:
    """Colour tags by their caption section."""
    return tag.section.value


def render_report(
    review: ReviewSet,
    *,
    options: ReportOptions | None = None,
    group_of: Grouper = by_section,
    thumbnail: Callable[[Path, int], Thumbnail] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[str, list[str]]:
    """The report page and the problems to report (images that could not be opened…)."""
    from anima_caption._review._thumbs import make_thumbnails

    options = options or ReportOptions()
    problems: list[str] = []
    cards: list[str] = []
    frequency: Counter[str] = Counter()
    tag_group: dict[str, Counter[str]] = {}
    group_uses: Counter[str] = Counter()
    rule_counts: Counter[str] = Counter()
    total = len(review.rows)
    thumbs = make_thumbnails([row.image for row in review.rows], options.thumb_box, thumbnail)
    for number, (row, thumb) in enumerate(zip(review.rows, thumbs, strict=True), 1):
        groups: dict[int, str] = {}
        if row.caption is not None:
            seen: set[str] = set()
            for tag in row.caption.tags:
                group = group_of(row, tag)
                groups[tag.span[0]] = group
                group_uses[group] += 1
                tag_group.setdefault(tag.text, Counter())[group] += 1
                if tag.text not in seen:
                    seen.add(tag.text)
                    frequency[tag.text] += 1
        for d in row.diagnostics:
            rule_counts[d.name] += 1
        if thumb is not None and thumb.data is None:
            problems.append(f"{row.image}: {thumb.error}")
        cards.append(_card(row, groups, thumb))
        if progress is not None:
            progress(number, total)
    group_names = _group_order(group_uses, options.grouping)
    colours = _colours(group_names, options.grouping)
    page = _PAGE.format(
        title=escape(options.title or f"{review.root.name} — caption report"),
        heading=escape(options.title or f"{review.root.name}"),
        summary=_summary(review, problems, rule_counts),
        style=_STYLE + _group_css(colours),
        legend=_legend(colours, options.grouping),
        chart=_chart(frequency, tag_group, colours, len(review.rows)),
        groups=_group_table(group_names, group_uses, tag_group, colours),
        rules=_rule_table(rule_counts),
        cards="\n".join(cards),
        script=_SCRIPT,
        version=escape(__version__),
        problems=_problem_list(problems),
    )
    return page, problems


def _group_order(uses: Counter[str], grouping: str) -> list[str]:
    preferred = [s.value for s in Section] if grouping == "section" else list(GROUP_COLOURS)
    known = [g for g in preferred if g in uses]
    return known + sorted(g for g in uses if g not in preferred)


def _colours(groups: list[str], grouping: str) -> dict[str, str]:
    table = SECTION_COLOURS if grouping == "section" else GROUP_COLOURS
    out: dict[str, str] = {}
    spare = iter(_EXTRA_COLOURS * 4)
    for group in groups:
        out[group] = table.get(group) or next(spare, "#374151")
    return out


def _css_id(group: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in group.lower())


def _group_css(colours: dict[str, str]) -> str:
    return "".join(
        f".g-{_css_id(g)}{{color:{c};border-color:{c}}} .b-{_css_id(g)}{{background:{c}}}\n"
        for g, c in colours.items()
    )


def _legend(colours: dict[str, str], grouping: str) -> str:
    items = "".join(f'<span class="tag g-{_css_id(g)}">{escape(g)}</span>' for g in colours)
    return f'<div class="legend">tags coloured by {escape(grouping)}: {items}</div>'


def _summary(review: ReviewSet, problems: list[str], rules: Counter[str]) -> str:
    rows = review.rows
    images = sum(1 for r in rows if r.image is not None)
    captions = sum(1 for r in rows if r.exists)
    with_diag = sum(1 for r in rows if r.diagnostics)
    errors = sum(1 for r in rows for d in r.diagnostics if d.severity.value == "error")
    return (
        f"{images} images, {captions} captions, {with_diag} with diagnostics "
        f"({errors} errors, {sum(rules.values())} diagnostics in all)"
        + (f", {len(problems)} images could not be opened" if problems else "")
    )


def _chart(
    frequency: Counter[str],
    tag_group: dict[str, Counter[str]],
    colours: dict[str, str],
    rows: int,
) -> str:
    if not frequency:
        return "<p>No tags.</p>"
    top = frequency.most_common(CHART_TAGS)
    most = top[0][1]
    bars = []
    for tag, count in top:
        group = tag_group[tag].most_common(1)[0][0]
        width = max(1.0, 100.0 * count / most)
        bars.append(
            f'<button type="button" class="bar" data-filter="{escape(tag)}" '
            f'title="{escape(tag)}: in {count} of {rows} captions">'
            f'<span class="bar-label g-{_css_id(group)}">{escape(tag)}</span>'
            f'<span class="bar-track"><span class="bar-fill b-{_css_id(group)}" '
            f'style="width:{width:.1f}%"></span></span>'
            f'<span class="bar-count">{count}</span></button>'
        )
    return "\n".join(bars)


def _group_table(
    groups: list[str],
    uses: Counter[str],
    tag_group: dict[str, Counter[str]],
    colours: dict[str, str],
) -> str:
    lines = ["<table><tr><th>group</th><th>distinct tags</th><th>uses</th><th>most used</th></tr>"]
    for group in groups:
        tags = Counter({t: c[group] for t, c in tag_group.items() if group in c})
        common = ", ".join(
            f'<a href="#" data-filter="{escape(t)}">{escape(t)}</a>' for t, _ in tags.most_common(6)
        )
        lines.append(
            f'<tr><td><span class="tag g-{_css_id(group)}">{escape(group)}</span></td>'
            f"<td>{len(tags)}</td><td>{uses[group]}</td><td>{common}</td></tr>"
        )
    lines.append("</table>")
    return "\n".join(lines)


def _rule_table(rules: Counter[str]) -> str:
    if not rules:
        return "<p>No diagnostics.</p>"
    items = "".join(
        f'<li><a href="#" data-filter="{escape(name)}">{escape(name)}</a> × {count}</li>'
        for name, count in sorted(rules.items())
    )
    return f'<ul class="rules">{items}</ul>'


def _problem_list(problems: list[str]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{escape(p)}</li>" for p in problems)
    return (
        f'<section id="problems"><h2>Images that could not be opened</h2><ul>{items}</ul></section>'
    )


def _card(row: ReviewRow, groups: dict[int, str], thumb: Thumbnail | None) -> str:
    tags = sorted({t.text for t in row.caption.tags}) if row.caption is not None else []
    rules = sorted({d.code for d in row.diagnostics} | {d.slug for d in row.diagnostics})
    severity = {d.severity.value for d in row.diagnostics}
    status = "error" if "error" in severity else "warning" if severity else "clean"
    if thumb is None:
        picture = '<div class="noimg">no image</div>'
    elif thumb.data is None:
        picture = f'<div class="noimg bad">{escape(thumb.error or "cannot open image")}</div>'
    else:
        data = base64.b64encode(thumb.data).decode("ascii")
        picture = (
            f'<img src="data:{thumb.mime};base64,{data}" width="{thumb.width}" '
            f'height="{thumb.height}" alt="{escape(row.name)}">'
        )
    if row.caption is not None:
        caption_html = _caption_html(row.caption, groups, row)
    elif row.read_error:
        caption_html = f'<span class="bad">{escape(row.read_error)}</span>'
    else:
        caption_html = '<span class="bad">no caption file</span>'
    diagnostics = "".join(
        f'<li class="sev-{d.severity.value}"><code>{escape(d.name)}</code>'
        + (f" {d.line}:{d.column}" if d.span is not None else "")
        + f" {escape(d.message)}</li>"
        for d in row.diagnostics
    )
    return (
        f'<article class="card {status}" data-file="{escape(row.key.lower())}" '
        f'data-tags="{escape("|".join(tags))}" data-rules="{escape(" ".join(rules).lower())}">'
        f'<div class="thumb">{picture}</div><div class="body">'
        f'<h3 title="{escape(row.key)}">{escape(row.key)}</h3>'
        f'<p class="caption">{caption_html}</p>'
        + (f'<ul class="diags">{diagnostics}</ul>' if diagnostics else "")
        + "</div></article>"
    )


def _caption_html(caption: Caption, groups: dict[int, str], row: ReviewRow) -> str:
    from anima_caption._model import Group, Sentence, Tag

    flagged = [
        (d.span, f"{d.name}: {d.message}")
        for d in row.diagnostics
        if d.span is not None and d.severity.value != "info"
    ]
    parts: list[str] = []
    if caption.header is not None:
        parts.append(f'<span class="header">{escape(caption.header.raw)}</span>')
    parts.append(escape(caption.lead))
    for item in caption.items:
        if isinstance(item, Tag):
            group = groups.get(item.span[0], item.section.value)
            start, end = item.span
            notes = [m for (a, b), m in flagged if a < end and start < b]
            title = "\n".join([group, *notes])
            flag = " flag" if notes else ""
            parts.append(
                f'<span class="tag g-{_css_id(group)}{flag}" data-tag="{escape(item.text)}" '
                f'title="{escape(title)}">{escape(item.raw)}</span>'
            )
        elif isinstance(item, Sentence):
            parts.append(f'<span class="nl">{escape(item.raw)}</span>')
        elif isinstance(item, Group):
            parts.append(f'<span class="syntax" title="weight syntax">{escape(item.raw)}</span>')
        else:
            parts.append(f'<span class="syntax">{escape(item.raw)}</span>')
        parts.append(escape(item.trail))
    return "".join(parts)


_STYLE = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#111827;
background:#f3f4f6}
header{background:#111827;color:#f9fafb;padding:12px 20px;position:sticky;top:0;z-index:2}
header h1{font-size:18px;margin:0 0 4px}
header .summary{color:#d1d5db;font-size:13px}
#filter{width:min(560px,100%);padding:6px 10px;font-size:14px;border-radius:6px;border:0;
margin-top:8px}
#count{margin-left:10px;color:#d1d5db}
main{padding:16px 20px}
.panels{display:grid;grid-template-columns:minmax(320px,2fr) minmax(280px,1fr);gap:16px}
.panel{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002}
.panel h2{font-size:15px;margin:0 0 8px}
#chart{max-height:220px;overflow-y:auto;padding-right:6px}
.bar{display:grid;grid-template-columns:180px 1fr 36px;align-items:center;gap:8px;
width:100%;border:0;background:none;padding:1px 0;cursor:pointer;font:inherit;text-align:left}
.bar:hover{background:#f3f4f6}
.bar-label{border:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.bar-track{background:#e5e7eb;height:10px;border-radius:5px;overflow:hidden}
.bar-fill{display:block;height:100%}
.bar-count{text-align:right;color:#4b5563}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #e5e7eb;vertical-align:top}
.rules{columns:2;padding-left:18px;margin:0}
.legend{margin:10px 0;font-size:13px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px;
margin-top:16px}
.card{display:flex;gap:12px;background:#fff;border-radius:8px;padding:10px;
box-shadow:0 1px 2px #0002;border-left:5px solid #10b981}
.card.warning{border-left-color:#f59e0b}.card.error{border-left-color:#ef4444}
.card[hidden]{display:none}
.thumb{flex:0 0 auto;width:160px;text-align:center}
.thumb img{max-width:160px;height:auto;border-radius:4px}
.noimg{width:160px;padding:30px 8px;background:#f3f4f6;color:#6b7280;border-radius:4px;
font-size:12px}
.body{min-width:0;flex:1}
.body h3{font-size:13px;margin:0 0 6px;font-family:ui-monospace,monospace}
.caption{margin:0 0 6px}
.tag{border-bottom:2px solid;font-weight:500;cursor:pointer}
.legend .tag{margin:0 4px;cursor:default}
.tag.hit{background:#fde68a}
.tag.flag{text-decoration:underline wavy #dc2626;text-underline-offset:3px}
.nl{color:#374151;font-style:italic}
.syntax{background:#fee2e2;color:#991b1b}
.header{display:block;color:#6b7280}
.bad{color:#b91c1c}
.diags{margin:0;padding-left:18px;font-size:12.5px}
.diags code{font-size:12px}
.sev-error{color:#b91c1c}.sev-warning{color:#92400e}.sev-info{color:#374151}
#problems{margin-top:16px;background:#fff;padding:10px 16px;border-radius:8px}
footer{color:#6b7280;font-size:12px;padding:10px 20px}
"""

_SCRIPT = """
(function () {
  "use strict";
  var box = document.getElementById("filter");
  var count = document.getElementById("count");
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  function matches(card, term) {
    if (card.dataset.file.indexOf(term) !== -1) { return true; }
    var rules = card.dataset.rules.split(" ");
    for (var i = 0; i < rules.length; i++) {
      if (rules[i] === term || (rules[i].length > 2 && rules[i].indexOf(term) === 0)) {
        return true;
      }
    }
    var tags = card.dataset.tags.split("|");
    for (var j = 0; j < tags.length; j++) {
      if (tags[j].indexOf(term) !== -1) { return true; }
    }
    return false;
  }
  function apply() {
    var terms = box.value.toLowerCase().split(",").map(function (t) {
      return t.trim();
    }).filter(function (t) { return t.length > 0; });
    var shown = 0;
    cards.forEach(function (card) {
      var ok = terms.every(function (t) { return matches(card, t); });
      card.hidden = !ok;
      if (ok) { shown += 1; }
      card.querySelectorAll(".tag").forEach(function (tag) {
        var name = tag.dataset.tag || "";
        tag.classList.toggle("hit", terms.some(function (t) {
          return name.indexOf(t) !== -1;
        }));
      });
    });
    count.textContent = shown + " of " + cards.length + " shown";
  }
  box.addEventListener("input", apply);
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-filter], .card .tag");
    if (!target) { return; }
    event.preventDefault();
    box.value = target.dataset.filter || target.dataset.tag || "";
    apply();
    box.focus();
  });
  var initial = new URLSearchParams(window.location.search).get("filter");
  if (initial) { box.value = initial; }
  apply();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="anima-caption {version}">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body>
<header>
<h1>{heading}</h1>
<div class="summary">{summary}</div>
<input id="filter" type="search" aria-label="filter" autocomplete="off"
 placeholder="filter by tag, rule (TG005, unknown-tag) or file; comma = and">
<span id="count"></span>
</header>
<main>
<div class="panels">
<section class="panel" id="frequency"><h2>Tag frequency (captions containing the tag)</h2>
<div id="chart">
{chart}
</div>
</section>
<div>
<section class="panel" id="groups"><h2>Groups</h2>
{groups}
</section>
<section class="panel" id="rules" style="margin-top:16px"><h2>Diagnostics by rule</h2>
{rules}
</section>
</div>
</div>
{legend}
{problems}
<div class="cards" id="cards">
{cards}
</div>
</main>
<footer>Generated by anima-caption {version}. Click a tag, a bar or a rule to filter.</footer>
<script>{script}</script>
</body>
</html>
"""
