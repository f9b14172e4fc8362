"""The score tables of the report pages: a run's scores and the comparison of several runs, each feature space in
rows or columns of its own, every score labelled with its space (``FD (classifier)``, ``FID (Inception)``): scores
of two spaces are never in one column. A helper of report.py (so that file stays short).

    html = scores_table(summary)              # one table per feature space the run was scored in
    html = comparison_table(summaries)        # one row per run; columns per space
"""

from __future__ import annotations

from ganstudio.output.report_style import COLOURS, esc
from ganstudio.output.summaries import RunSummary, duration
from ganstudio.scoring.table import BEST, SCORES, labelled, ordered, record_key


def distance_panels(summaries: list[RunSummary]) -> list[tuple[str, tuple[str, ...]]]:
    """(title, metrics keys) of the overlaid curves' Fréchet distance panels: one per feature space the runs were
    scored in (the classifier's when none)."""
    spaces = ordered(space for s in summaries for space in s.scores) or ["classifier"]
    return [
        (f"{labelled(BEST, space, short=True)} ({BEST.better} is better)", (record_key(BEST.key, space),))
        for space in spaces
    ]


def space_scores(s: RunSummary, space: str) -> tuple[dict, dict, object]:
    """(latest, best, floor) of ``s`` in ``space``; empty where it has none."""
    found = s.scores.get(space) or {}
    return found.get("latest") or {}, found.get("best") or {}, found.get("floor_fid")


def space_table(s: RunSummary, space: str) -> str:
    latest, best, floor = space_scores(s, space)
    rows = [
        f"<tr><th class=l>score</th><th>latest (step {latest.get('step') or 0:,})</th>"
        f"<th>best {esc(labelled(BEST, space, short=True))} (step {best.get('step') or 0:,})</th>"
        "<th class=l>better</th></tr>"
    ]
    for score in SCORES:
        if score.key not in latest:
            continue
        cells = [score.show(r[score.key]) if score.key in r else "-" for r in (latest, best)]
        rows.append(
            f"<tr><td class=l>{esc(labelled(score, space, short=True))}</td><td>{cells[0]}</td><td>{cells[1]}</td>"
            f"<td class=l>{score.better}</td></tr>"
        )
    table = "<table>" + "".join(rows) + "</table>"
    if floor is not None:
        table += (
            f"<p class=meta>Real images score {esc(labelled(BEST, space, short=True))} {BEST.show(floor)} against "
            "the same training images: the floor.</p>"
        )
    return table


def scores_table(s: RunSummary) -> str:
    """The run's scores: a table per feature space it was scored in."""
    if not s.scores:
        return (
            f"<p>No evaluation yet: <code>ganstudio eval {esc(s.name)}</code> scores it "
            "(or train with <code>--eval-every N</code>).</p>"
        )
    return "".join(space_table(s, space) for space in s.scores)


def comparison_table(summaries: list[RunSummary]) -> str:
    """One row per run; for each feature space any of them was scored in, its columns (latest and best distance,
    the other scores some run has, the floor), each head naming the space."""
    spaces = ordered(space for s in summaries for space in s.scores) or ["classifier"]
    head = ["run", "status", "data", "model / options", "steps", "time", "img/s"]
    columns = []  # (space, the scores shown beside its distance)
    for space in spaces:
        latest = [space_scores(s, space)[0] for s in summaries]
        shown = [score for score in SCORES if score is not BEST and any(score.key in r for r in latest)]
        distance = labelled(BEST, space, short=True)
        head += [f"{distance} latest", f"{distance} best", *(labelled(x, space, short=True) for x in shown)]
        head.append(f"floor {distance}")
        columns.append((space, shown))
    rows = ["<tr>" + "".join(f"<th{' class=l' if i < 4 else ''}>{esc(h)}</th>" for i, h in enumerate(head)) + "</tr>"]
    for i, s in enumerate(summaries):
        cells = [
            f'<span style="color:{COLOURS[i % len(COLOURS)]}">■</span> {esc(s.name)}',
            esc(s.status),
            esc(s.data),
            esc(s.model + (" " + s.options_text if s.options else "")),
            f"{s.steps:,}",
            duration(s.elapsed_s),
            f"{s.images_per_s:,.0f}" if s.images_per_s else "-",
        ]
        for space, shown in columns:
            latest, best, floor = space_scores(s, space)
            cells += [BEST.show(r[BEST.key]) if BEST.key in r else "-" for r in (latest, best)]
            cells += [score.show(latest[score.key]) if score.key in latest else "-" for score in shown]
            cells.append(BEST.show(floor) if floor is not None else "-")
        rows.append(
            "<tr>" + "".join(f"<td{' class=l' if j < 4 else ''}>{c}</td>" for j, c in enumerate(cells)) + "</tr>"
        )
    return "<table>" + "".join(rows) + "</table>"
