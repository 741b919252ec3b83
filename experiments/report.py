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
    "quick": "Profile quick: real FashionMNIST (500 training images per class), a 784-256x3-10 "
    "MLP and a small CNN with BatchNorm, 3 training seeds, 5 class triples; CPU-sized: "
    "the paper's phenomena at small scale, not its numbers.",
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
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_cell(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, str):
        try:
            return tables.fmt(float(value)) if value not in ("", "True", "False") else value
        except ValueError:
            return value
    return tables.fmt(value)


def _ci(ci) -> str:
    return "n/a" if not ci or ci[0] is None else f"[{ci[0]:.3g}, {ci[1]:.3g}]"


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def _seeds(seeds) -> str:
    return "all" if not seeds else ", ".join(str(s) for s in seeds)


def claims_section(claims: dict[str, dict], out: pathlib.Path | None = None) -> str:
    """The claims table (statement, statistic, rule, value with its interval and n, the
    control's, the verdict), the claims figure, and a plain list of what does not hold."""
    rows, failing = [], []
    for claim in CLAIMS:
        c = claims.get(claim.key)
        if c is None:
            continue
        if c["value"] is None:
            verdict = '<span class="missing">NOT COMPUTED</span>'
        elif c["holds"]:
            verdict = '<span class="holds">HOLDS</span>'
        else:
            verdict = '<span class="fails">DOES NOT HOLD</span>'
        if not c["holds"]:
            failing.append(f"{claim.key}: {c.get('verdict', '')}")
        controls = c.get("controls") or [c.get("control") or {}]
        ctl_text = "<br>".join(
            f"{_e(ctl.get('name'))}: {_num(ctl.get('value'))} {_ci(ctl.get('ci'))}<br>"
            + {True: "passes (!)", False: "fails, as it must", None: "not run"}[ctl.get("holds")]
            for ctl in controls
        )
        cells = "; ".join(
            f"{cell}: "
            + ", ".join(f"{r['statistic']} {_num(r['value'])} {_ci(r['ci'])}" for r in cc["rules"])
            + (" (passes)" if cc["holds"] else " (fails)")
            for cell, cc in (c.get("cells") or {}).items()
        )
        rows.append(
            f"<tr><td>{_e(claim.key)}<br><small>version {c.get('version', 1)}, seeds "
            f"{_e(_seeds(c.get('seeds')))}</small></td>"
            f"<td style='text-align:left'>{_e(claim.statement)}</td>"
            f"<td style='text-align:left'>{_e(c.get('rule', ''))}</td>"
            f"<td>{_num(c['value'])}<br>{_ci(c.get('ci'))}</td><td>{c.get('n', '')}</td>"
            f"<td style='text-align:left'>{ctl_text}</td><td>{verdict}</td>"
            f"<td style='text-align:left'>{_e(cells)}<br><i>{_e(claim.rationale)}</i></td></tr>"
        )
    note = ""
    if failing:
        note = (
            "<p class='note'><b>Not reproduced here</b> (each claim's rule was fixed before "
            "the runs; a failing claim is reported as it is):</p><ul>"
            + "".join(f"<li>{_e(f)}</li>" for f in failing)
            + "</ul>"
        )
    revised = [
        f"<li><b>{_e(claim.key)}, version {old['version']}</b> (seeds "
        f"{_e(_seeds(old['seeds']))}): {_e(old['rule'])}: {_num(old['value'])} "
        f"{_ci(old['ci'])}, n = {old['n']}; control {_e(old['control']['name'])}: "
        f"{_num(old['control']['value'])} {_ci(old['control']['ci'])}; {_e(old['verdict'])}. "
        f"<i>Replaced because {_e(old['why'])}.</i></li>"
        for claim in CLAIMS
        for old in (claims.get(claim.key) or {}).get("superseded") or []
    ]
    if revised:
        note += (
            "<p class='note'><b>Revised claims.</b> A version whose rule proved weak is never "
            "edited: the new version's rule was committed before the seeds that judge it were "
            "trained, and it is judged on those seeds alone. The superseded versions, as "
            "they were judged:</p><ul>" + "".join(revised) + "</ul>"
        )
    figure = ""
    png = None if out is None else out / "figures" / "claims.png"
    if png is not None and png.exists():
        figure = (
            f"<figure>{image_tag(png, 'claims')}<figcaption>Each claim's statistic per "
            "unit of replication (seed x class triple; seeds for test-set metrics), "
            "evidence beside its control, with the rule's threshold (dashed) and the "
            "95% bootstrap interval of the mean (bar). <code>figures/claims.png</code>"
            "</figcaption></figure>"
        )
    return (
        "<h2 id='claims'>Claims</h2><p>Value: the mean of the first statistic over every "
        "unit, with its 95% bootstrap interval (seeds resampled, then class triples within "
        "a seed). The verdict uses the interval bound in every architecture, and requires "
        "that the control does not pass the same rule.</p>"
        + note
        + "<table><thead><tr><th>claim</th><th>statement</th><th>statistic and rule</th>"
        "<th>value, 95% CI</th><th>n</th><th>control</th><th>verdict</th>"
        "<th>per architecture; why this rule</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + figure
    )


def residual_findings(stats: list[dict]) -> str:
    """The findings of the theory_residual study (issue 13) from its statistics
    (experiments.figures.residual_stats): a table per factor level and a paragraph that says
    what the numbers show (each sentence chosen by the numbers, none written in advance)."""
    if not stats:
        return "<p class='note'>theory_residual: no analysis finished, no findings.</p>"
    key_d, key_2 = "theory_delta_straight", "theory_delta_straight_p2"
    header = [
        "factor",
        "level",
        "n",
        "held-out delta, p fitted",
        "held-out delta, p = 2",
        "fitted p (mean)",
        "confidence RMSE (different)",
        "confidence RMSE (same)",
    ]

    def cell(r, key):
        s = r[key]
        return f"{_num(s['mean'])} {_ci(s['ci'])}"

    rows = [
        [
            r["factor"],
            r["level"],
            r["n"],
            cell(r, key_d),
            cell(r, key_2),
            _num(r["theory_fit_power"]["mean"]),
            cell(r, "theory_confidence_rmse"),
            cell(r, "theory_confidence_rmse_same"),
        ]
        for r in stats
    ]
    # every distinct analysis once (the base run is a level of several factors)
    per_id: dict[str, dict[str, float | None]] = {}
    for r in stats:
        for i, aid in enumerate(r["ids"]):
            per_id[aid] = {k: r[k]["values"][i] for k in (key_d, key_2, "theory_fit_power")}
    pairs = [
        (v[key_d], v[key_2])
        for v in per_id.values()
        if v[key_d] is not None and v[key_2] is not None
    ]
    text = []
    if pairs:
        from experiments.claims import bootstrap_ci

        diff = [a - b for a, b in pairs]
        d_mean, d_ci = float(sum(diff) / len(diff)), bootstrap_ci(diff)
        powers = sorted(
            v["theory_fit_power"] for v in per_id.values() if v["theory_fit_power"] is not None
        )
        verdict = (
            "improves the held-out agreement"
            if d_ci[0] > 0
            else "makes the held-out agreement worse"
            if d_ci[1] < 0
            else "does not improve the held-out agreement (the interval contains 0)"
        )
        text.append(
            f"Over {len(pairs)} analyses, fitting the penalty power p (median fitted p "
            f"{_num(powers[len(powers) // 2]) if powers else 'n/a'}, range "
            f"{_num(powers[0]) if powers else 'n/a'} to {_num(powers[-1]) if powers else 'n/a'})"
            f" {verdict}: held-out delta with p fitted minus with p = 2 is {d_mean:.3g} "
            f"{_ci(d_ci)}."
        )
    for factor in dict.fromkeys(r["factor"] for r in stats):
        lv = [r for r in stats if r["factor"] == factor and r[key_d]["mean"] is not None]
        if len(lv) < 2:
            continue
        hi, lo = max(lv, key=lambda r: r[key_d]["mean"]), min(lv, key=lambda r: r[key_d]["mean"])
        separated = (
            hi[key_d]["ci"][0] is not None
            and lo[key_d]["ci"][1] is not None
            and hi[key_d]["ci"][0] > lo[key_d]["ci"][1]
        )
        text.append(
            f"{factor.capitalize()}: the held-out delta is largest at {hi['level']} "
            f"({hi[key_d]['mean']:.3g}) and smallest at {lo['level']} ({lo[key_d]['mean']:.3g})"
            + (
                "; the intervals do not overlap."
                if separated
                else "; the intervals overlap (no separation at this number of seeds)."
            )
        )
    conf = [r for r in stats if r["factor"] == "classifier"]
    for r in conf:
        c = r["theory_confidence_rmse"]
        if c["mean"] is not None:
            text.append(
                f"Predicted calibration ({r['level']} classifier): the UFM optimum's "
                f"confidence differs from the measured mean confidence on "
                f"different-class mixtures by RMSE {c['mean']:.3g} {_ci(c['ci'])} over "
                f"lambda (same class: {_num(r['theory_confidence_rmse_same']['mean'])})."
            )
    return (
        "<p><b>Findings (computed from the study's numbers).</b> "
        + _e(" ".join(text))
        + "</p>"
        + html_table(header, rows)
    )


def theory_section(out: pathlib.Path) -> str:
    """The table of experiments.theory_summary (tables/theory_summary.csv), if written."""
    path = out / "tables" / "theory_summary.csv"
    if not path.exists():
        return ""
    from experiments.theory_summary import CAPTION

    header, rows = tables.read_csv(path)
    return (
        "<h2 id='theory-summary'>Theory beside the networks</h2>"
        f"<p>{_e(CAPTION)} Issue 13's questions: does a penalty power p < 2 (deep-UFM) "
        "explain the measured paths better held out, and does the UFM predict the "
        "networks' confidence? The opt-in <code>--only theory_residual</code> study asks what "
        "drives the residual.</p>" + html_table(header, rows)
    )


def experiment_section(out: pathlib.Path, summary: dict) -> str:
    """The section of one experiment from its summary (`experiments/<name>.json`)."""
    name = summary["name"]
    parts = [
        f"<h2 id='{_e(name)}'>{_e(summary['title'])} <small>({_e(name)})</small></h2>",
        f"<p>{_e(summary['description'])}</p>",
    ]
    if summary.get("errors"):
        parts.append("".join(f'<p class="note">Error: {_e(err)}</p>' for err in summary["errors"]))
    t = summary.get("seconds", {})
    parts.append(
        f"<p class='meta'>Time: {_seconds(t.get('total'))} in all (training "
        f"{_seconds(t.get('train'))}, analysis {_seconds(t.get('analyze'))}, theory "
        f"{_seconds(t.get('theory'))}, figures and tables {_seconds(t.get('build'))}); runs "
        "shared with other experiments count in each.</p>"
    )
    for fig in summary.get("figures", []):
        png = out / fig["png"]
        if png.exists():
            parts.append(
                f"<figure>{image_tag(png, fig['name'])}<figcaption>{_e(fig['caption'])} "
                f"<code>{_e(fig['png'])}</code></figcaption></figure>"
            )
    for fig in summary.get("figures", []):  # a study that writes its statistics beside
        stats = out / pathlib.Path(fig["png"]).with_suffix(".json")  # its figure (issue 13)
        if name == "theory_residual" and stats.exists():
            parts.append(residual_findings(json.loads(stats.read_text())))
    for tab in summary.get("tables", []):
        csv_path = out / tab["csv"]
        if csv_path.exists():
            header, rows = tables.read_csv(csv_path)
            parts.append(
                f"<p><b>{_e(tab['caption'])}</b> <code>{_e(tab['csv'])}</code></p>"
                + html_table(header, rows)
            )
    run_rows = [
        [r["run_id"], r["label"], _seconds(r.get("seconds")), r.get("status", "")]
        for r in summary.get("runs", [])
    ]
    if run_rows:
        parts.append(
            "<p><b>Runs</b></p>" + html_table(["run", "what", "training time", "status"], run_rows)
        )
    for r in summary.get("runs", []):
        config = json.dumps(r.get("config", {}), indent=1, sort_keys=True)
        parts.append(
            f"<details><summary>config of {_e(r['run_id'])} "
            f"(<code>{_e(r['spec'])}</code>)</summary><pre>{_e(config)}</pre></details>"
        )
    an_rows = [
        [a["analysis_id"], a["label"], _seconds(a.get("seconds")), a.get("status", "")]
        for a in summary.get("analyses", [])
    ]
    if an_rows:
        parts.append(
            "<details><summary>Analyses</summary>"
            + html_table(["analysis", "of", "time", "status"], an_rows)
            + "</details>"
        )
    return "\n".join(parts)


def build_report(
    out: pathlib.Path,
    *,
    profile: str,
    experiment_names: Sequence[str],
    claims: dict[str, dict],
    timings: dict[str, float],
    environment: dict[str, str],
) -> pathlib.Path:
    """Writes `out/report.html` and returns its path."""
    summaries = []
    for name in experiment_names:
        path = out / "experiments" / f"{name}.json"
        summaries.append(
            json.loads(path.read_text())
            if path.exists()
            else {"name": name, "title": name, "missing": True}
        )
    toc = "".join(
        f"<li><a href='#{_e(s['name'])}'>{_e(s['title'])}</a>"
        + (" (not run)" if s.get("missing") else "")
        + "</li>"
        for s in summaries
    )
    phase_rows = [[k, _seconds(v)] for k, v in timings.items()]
    env_rows = [[k, v] for k, v in environment.items()]
    body = [
        f"<h1>nc-mixup: reproduction report (profile <code>{_e(profile)}</code>)</h1>",
        "<p>Fisher, Meng &amp; Papyan, <i>Pushing Boundaries: Mixup's Influence on Neural "
        "Collapse</i>, ICLR 2024 (arXiv 2402.06171). Generated "
        f"{_e(datetime.datetime.now().isoformat(timespec='seconds'))}.</p>",
        f"<p>{_e(PROFILE_TEXT.get(profile, ''))} Each claim below is computed from the "
        "metrics of the analysed runs (<code>claims.json</code>); the experiments follow.</p>",
        claims_section(claims, out),
        theory_section(out),
        f"<h2>Contents</h2><ul>{toc}</ul>",
        "<p class='meta'>Wall time of the last <code>nc-mixup reproduce</code> call by phase "
        "(cached work is not redone and costs nothing):</p>"
        + html_table(["phase", "time"], phase_rows),
        html_table(["environment", ""], env_rows),
    ]
    for s in summaries:
        if s.get("missing"):
            body.append(
                f"<h2 id='{_e(s['name'])}'>{_e(s['name'])}</h2><p class='note'>Not run "
                "yet: run <code>nc-mixup reproduce</code> without <code>--only</code>."
                "</p>"
            )
        else:
            body.append(experiment_section(out, s))
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>nc-mixup report ({_e(profile)})</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
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
