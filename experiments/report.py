"""The HTML report: one self-contained file (figures embedded as base64 PNG, inline CSS).

Claims first (each says plainly whether it holds), then one section per experiment with its
description, figures, tables, the configs it ran and how long it took. A function of the files
`experiments.reproduce` wrote (`experiments/<name>.json`, `claims.json`, figures, tables), so it
can be rebuilt in seconds.
"""

from __future__ import annotations

import base64
import datetime
import html
import html.parser
import json
import pathlib
from collections.abc import Sequence
from typing import Any

from experiments import tables
from experiments.claims import CLAIMS

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #ccc; padding-top: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.holds { color: #176117; font-weight: bold; } .fails { color: #b00020; font-weight: bold; }
.missing { color: #8a6d00; font-weight: bold; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.85em; color: #555; }
pre { background: #f7f7f7; padding: 0.6em; font-size: 0.75em; overflow-x: auto; }
.note { background: #fff5e0; border-left: 4px solid #e0a000; padding: 0.4em 0.8em; }
.meta { color: #555; font-size: 0.85em; }
"""


PROFILE_TEXT = {
    "quick": "Profile quick: real FashionMNIST (500 training images per class), a 784-512x3-10 "
             "MLP, CPU-sized; the paper's phenomena at small scale, not its numbers.",
    "paper": "Profile paper: WRN-40-10 and ViT-B/4 on FashionMNIST (32x32), CIFAR-10 and "
             "CIFAR-100, paper-length training (see experiments/configs/paper.py for the source "
             "of every hyperparameter).",
    "smoke": "Profile smoke: seconds-long runs that exercise the pipeline; the numbers mean "
             "nothing.",
}


def _e(text: Any) -> str:
    return html.escape(str(text))


def _seconds(s: float | None) -> str:
    if s is None:
        return "n/a"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def image_tag(png: pathlib.Path, alt: str) -> str:
    """An <img> with the PNG embedded as a data URI (no external reference)."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, str):
        try:
            return tables.fmt(float(value)) if value not in ("", "True", "False") else value
        except ValueError:
            return value
    return tables.fmt(value)


def claims_section(claims: dict[str, dict]) -> str:
    rows, notes = [], []
    for claim in CLAIMS:
        c = claims.get(claim.key)
        if c is None:
            continue
        if c["value"] is None:
            verdict = '<span class="missing">NOT COMPUTED</span>'
            notes.append(f"{claim.key}: {c['evidence']}")
        elif c["holds"]:
            verdict = '<span class="holds">HOLDS</span>'
        else:
            verdict = '<span class="fails">DOES NOT HOLD</span>'
            notes.append(f"{claim.key} does not hold in this run: value {c['value']:.4g}, "
                         f"required {claim.direction} {claim.threshold:g}.")
        value = "n/a" if c["value"] is None else f"{c['value']:.4g}"
        rows.append(
            f"<tr><td>{_e(claim.key)}</td><td style='text-align:left'>{_e(claim.statement)}</td>"
            f"<td>{value}</td><td>{_e(claim.direction)} {c['threshold']:g}</td><td>{verdict}"
            f"</td><td style='text-align:left'>{_e(c['evidence'])}<br><i>"
            f"{_e(claim.rationale)}</i></td></tr>")
    note = "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
    return ("<h2 id='claims'>Claims</h2>" + note
            + "<table><thead><tr><th>claim</th><th>statement</th><th>value</th>"
              "<th>required</th><th>verdict</th><th>evidence</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def experiment_section(out: pathlib.Path, summary: dict) -> str:
    """The section of one experiment from its summary (`experiments/<name>.json`)."""
    name = summary["name"]
    parts = [f"<h2 id='{_e(name)}'>{_e(summary['title'])} <small>({_e(name)})</small></h2>",
             f"<p>{_e(summary['description'])}</p>"]
    if summary.get("errors"):
        parts.append("".join(f'<p class="note">Error: {_e(err)}</p>' for err in summary["errors"]))
    t = summary.get("seconds", {})
    parts.append(
        f"<p class='meta'>Time: {_seconds(t.get('total'))} in all (training "
        f"{_seconds(t.get('train'))}, analysis {_seconds(t.get('analyze'))}, theory "
        f"{_seconds(t.get('theory'))}, figures and tables {_seconds(t.get('build'))}); runs "
        "shared with other experiments count in each.</p>")
    for fig in summary.get("figures", []):
        png = out / fig["png"]
        if png.exists():
            parts.append(f"<figure>{image_tag(png, fig['name'])}<figcaption>{_e(fig['caption'])} "
                         f"<code>{_e(fig['png'])}</code></figcaption></figure>")
    for tab in summary.get("tables", []):
        csv_path = out / tab["csv"]
        if csv_path.exists():
            header, rows = tables.read_csv(csv_path)
            parts.append(f"<p><b>{_e(tab['caption'])}</b> <code>{_e(tab['csv'])}</code></p>"
                         + html_table(header, rows))
    run_rows = [[r["run_id"], r["label"], _seconds(r.get("seconds")), r.get("status", "")]
                for r in summary.get("runs", [])]
    if run_rows:
        parts.append("<p><b>Runs</b></p>" + html_table(["run", "what", "training time", "status"],
                                                       run_rows))
    for r in summary.get("runs", []):
        config = json.dumps(r.get("config", {}), indent=1, sort_keys=True)
        parts.append(f"<details><summary>config of {_e(r['run_id'])} "
                     f"(<code>{_e(r['spec'])}</code>)</summary><pre>{_e(config)}</pre></details>")
    an_rows = [[a["analysis_id"], a["label"], _seconds(a.get("seconds")), a.get("status", "")]
               for a in summary.get("analyses", [])]
    if an_rows:
        parts.append("<details><summary>Analyses</summary>"
                     + html_table(["analysis", "of", "time", "status"], an_rows) + "</details>")
    return "\n".join(parts)


def build_report(out: pathlib.Path, *, profile: str, experiment_names: Sequence[str],
                 claims: dict[str, dict], timings: dict[str, float],
                 environment: dict[str, str]) -> pathlib.Path:
    """Writes `out/report.html` and returns its path."""
    summaries = []
    for name in experiment_names:
        path = out / "experiments" / f"{name}.json"
        summaries.append(json.loads(path.read_text()) if path.exists() else
                         {"name": name, "title": name, "missing": True})
    toc = "".join(f"<li><a href='#{_e(s['name'])}'>{_e(s['title'])}</a>"
                  + (" (not run)" if s.get("missing") else "") + "</li>" for s in summaries)
    phase_rows = [[k, _seconds(v)] for k, v in timings.items()]
    env_rows = [[k, v] for k, v in environment.items()]
    body = [
        f"<h1>nc-mixup: reproduction report (profile <code>{_e(profile)}</code>)</h1>",
        "<p>Fisher, Meng &amp; Papyan, <i>Pushing Boundaries: Mixup's Influence on Neural "
        "Collapse</i>, ICLR 2024 (arXiv 2402.06171). Generated "
        f"{_e(datetime.datetime.now().isoformat(timespec='seconds'))}.</p>",
        f"<p>{_e(PROFILE_TEXT.get(profile, ''))} Each claim below is computed from the "
        "metrics of the analysed runs (<code>claims.json</code>); the experiments follow.</p>",
        claims_section(claims),
        f"<h2>Contents</h2><ul>{toc}</ul>",
        "<p class='meta'>Wall time of the last <code>nc-mixup reproduce</code> call by phase "
        "(cached work is not redone and costs nothing):</p>" + html_table(["phase", "time"],
                                                                         phase_rows),
        html_table(["environment", ""], env_rows),
    ]
    for s in summaries:
        if s.get("missing"):
            body.append(f"<h2 id='{_e(s['name'])}'>{_e(s['name'])}</h2><p class='note'>Not run "
                        "yet: run <code>nc-mixup reproduce</code> without <code>--only</code>."
                        "</p>")
        else:
            body.append(experiment_section(out, s))
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>nc-mixup report ({_e(profile)})</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
    path = out / "report.html"
    path.write_text(page)
    return path


_VOID = {"meta", "img", "br", "hr", "input", "link", "col", "source", "wbr", "area", "base"}


class _Checker(html.parser.HTMLParser):
    """Checks nesting and records every src/href attribute."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href")]
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.problems.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")


def check_self_contained(text: str) -> list[str]:
    """Problems that would stop `text` from being valid, offline-readable HTML (empty if none):
    bad nesting, an image not embedded as a data URI, a link leaving the page, scripts or
    stylesheets from elsewhere."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    problems = list(checker.problems)
    if not text.startswith("<!DOCTYPE html>"):
        problems.append("no <!DOCTYPE html>")
    if checker.stack:
        problems.append(f"unclosed tags {checker.stack}")
    for tag, name, value in checker.refs:
        if tag == "img" and name == "src" and value.startswith("data:image/png;base64,"):
            continue
        if name == "href" and value.startswith("#"):
            continue
        problems.append(f"external reference <{tag} {name}={value[:60]!r}>")
    for bad in ("<script", "<link", "url(", "@import"):
        if bad in text:
            problems.append(f"{bad} in the page")
    return problems
