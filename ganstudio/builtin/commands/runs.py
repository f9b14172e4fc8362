"""``ganstudio runs``: every run under checkpoints/ in one table, read without loading weights.

    ganstudio runs                      # newest first
    ganstudio runs --sort fid           # best Fréchet distance first (runs without a score last)
    ganstudio runs --json               # the same, as JSON

Scores are the latest and the best evaluation a run has (``--eval-every`` during training, or ``ganstudio eval``),
with the real floor when ``ganstudio eval`` measured one. Status: finished (its target or --minutes reached),
interrupted (Ctrl-C / SIGTERM: resume it), diverged / failed (the log's last line says why), running (a process
holds its lock), no checkpoint, unreadable (the problem in one line).
"""

from __future__ import annotations

import json
import shutil
import sys

from ganstudio import hookimpl
from ganstudio.api.commands import add_folder_options
from ganstudio.limits import LINE_CHARS, clean_text
from ganstudio.scoring.table import BEST, score
from ganstudio.store.rundir import is_finite

# key (None when a run has no such value), largest first. Runs without the value come last in either order.
SORTS = {
    "saved": (lambda s: s.saved_at, True),
    "name": (lambda s: s.name, False),
    BEST.key: (lambda s: (s.best_eval or {}).get(BEST.key), False),
    "steps": (lambda s: s.steps, True),
    "time": (lambda s: s.elapsed_s, True),
    "speed": (lambda s: s.images_per_s, True),
}


def sort_runs(summaries: list, by: str) -> list:
    """The summaries in ``by``'s order; a missing, NaN or infinite value (a hostile file) is listed last."""
    key, largest_first = SORTS[by]

    def present(s) -> bool:
        value = key(s)
        return isinstance(value, str) or (value is not None and is_finite(value))

    ranked = sorted((s for s in summaries if present(s)), key=key, reverse=largest_first)
    return ranked + [s for s in summaries if not present(s)]


def inert(text, limit: int = LINE_CHARS) -> str:
    """A string read from a run, made safe for a Rich table: no control characters, no markup."""
    from rich.markup import escape

    return escape(clean_text(text, limit))


def run_runs(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from ganstudio.output.summaries import age, duration, list_runs

    summaries = sort_runs(list_runs(args.checkpoints_dir, args.plugins), args.sort)
    if args.json:
        print(json.dumps([s.to_json() for s in summaries], indent=2, default=str))
        return 0
    # Piped or logged output gets a wide table rather than one squeezed into 80 columns. No :emoji: codes either:
    # a run's name or options must show as written.
    width = None if sys.stdout.isatty() else max(160, shutil.get_terminal_size().columns)
    console = Console(width=width, emoji=False)
    folder = inert(args.checkpoints_dir)
    if not summaries:
        console.print(f"no runs under {folder}/ (train one: ganstudio train --data fashion)")
        return 0
    plural = "s" if len(summaries) != 1 else ""
    table = Table(title=f"{len(summaries)} run{plural} under {folder}/", title_justify="left")
    for column, justify in (
        ("run", "left"),
        ("data · model, options", "left"),
        ("steps · epochs", "right"),
        ("time · img/s", "right"),
        ("device", "left"),
        (f"{BEST.short} latest (best)", "right"),
        ("prec. / recall", "right"),
        ("floor", "right"),
        ("saved", "right"),
        ("status", "left"),
    ):
        table.add_column(
            column,
            justify=justify,
            overflow="fold",
            no_wrap=column == "run",
            min_width=26 if column.startswith("data") else None,
        )
    for s in summaries:
        if s.status in ("unreadable", "no checkpoint") or (s.status == "running" and not s.steps):
            problem = f"[red]{inert(s.problem)}[/red]" if s.status == "unreadable" else inert(s.problem or "")
            table.add_row(inert(s.name), problem, *[""] * 7, status_text(s))
            continue
        device = " ".join(x for x in (s.device, s.precision) if x and x != "auto") or "-"
        device += f" x{s.world_size}" if s.world_size > 1 else ""
        speed = f" · {s.images_per_s:,.0f}" if s.images_per_s else ""
        what = f"{s.data} · {s.model}" + (f" {s.options_text}" if s.options else "")
        table.add_row(
            inert(s.name),
            inert(what) + (f"\n[red]problem: {inert(s.problem)}[/red]" if s.problem else ""),
            f"{s.steps:,} · {s.epochs:.2f}",
            duration(s.elapsed_s) + speed,
            inert(device),
            *score_cells(s),
            age(s.saved_at),
            status_text(s),
        )
    console.print(table)
    return 0


def score_cells(s) -> tuple[str, str, str]:
    """The latest FD (the best), precision / recall and the floor, formatted as the score table says."""
    latest, best = s.latest_eval or {}, s.best_eval or {}
    fd = f"{BEST.show(latest[BEST.key])} ({BEST.show(best[BEST.key])})" if latest else "-"
    precision, recall = score("precision"), score("recall")
    both = precision.key in latest and recall.key in latest
    quality = f"{precision.show(latest[precision.key])} / {recall.show(latest[recall.key])}" if both else "-"
    return fd, quality, BEST.show(s.floor_fid) if s.floor_fid is not None else "-"


def status_text(s) -> str:
    colour = {
        "finished": "green",
        "interrupted": "yellow",
        "running": "cyan",
        "diverged": "red",
        "failed": "red",
        "unreadable": "red",
    }.get(s.status, "white")
    text = f"[{colour}]{inert(s.status)}[/{colour}]"
    return text + (f": {inert(s.error)}" if s.error else "")


@hookimpl
def register_commands(cli):
    p = cli.command(
        "runs", help="every run under checkpoints/ in one table: progress, speed, scores, status", run=run_runs
    )
    add_folder_options(p, samples=False)
    p.add_argument(
        "--sort", choices=sorted(SORTS), default="saved", help="order (default saved: newest first; fid: best first)"
    )
    p.add_argument("--json", action="store_true", help="print the summaries as JSON")
