"""``ganstudio runs``: every run under checkpoints/ in one table, read without loading weights.

    ganstudio runs                      # newest first
    ganstudio runs --sort fid           # best Fréchet distance first (runs without a score last)
    ganstudio runs --sort fid_inception # best FID in Inception's feature space first
    ganstudio runs --json               # the same, as JSON

Scores are the latest and the best evaluation a run has (``--eval-every`` during training, or ``ganstudio eval``),
with the real floor when one was measured; each feature space in columns of its own ("FD (classifier)", "FID
(Inception)"), never mixed. Status: finished (its target or --minutes reached),
interrupted (Ctrl-C / SIGTERM: resume it), diverged / failed (the log's last line says why), running (a process
holds its lock), no checkpoint, unreadable (the problem in one line).
"""

from __future__ import annotations

import json
import shutil
import sys

from ganstudio import hookimpl
from ganstudio.api.commands import add_folder_options
from ganstudio.errors import GanstudioError
from ganstudio.limits import LINE_CHARS, clean_text
from ganstudio.scoring.table import BEST, labelled, ordered, score, sort_key, space_name
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


def best_in(space: str):
    """The run's best Fréchet distance in ``space`` (None without one)."""
    return lambda s: ((s.scores.get(space) or {}).get("best") or {}).get(BEST.key)


def sorts(spaces=()) -> dict:
    """Every --sort key: SORTS and, for each feature space, its best score's key (``fid_inception``)."""
    return {**SORTS, **{sort_key(space): (best_in(space), False) for space in ordered(spaces) if space != "classifier"}}


def check_sort(by: str, spaces) -> None:
    import difflib

    valid = sorts(spaces)
    if by not in valid:
        close = difflib.get_close_matches(by, list(valid), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise GanstudioError(f"--sort {clean_text(by, 60)}: not a sort key{hint}; valid keys: {', '.join(valid)}")


def sort_runs(summaries: list, by: str, spaces=()) -> list:
    """The summaries in ``by``'s order; a missing, NaN or infinite value (a hostile file) is listed last."""
    key, largest_first = sorts(spaces)[by]

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

    from ganstudio.output.summaries import known_spaces, list_runs

    spaces = known_spaces(args.plugins)
    check_sort(args.sort, spaces)
    summaries = sort_runs(list_runs(args.checkpoints_dir, args.plugins), args.sort, spaces)
    if args.json:
        print(json.dumps([s.to_json() for s in summaries], indent=2, default=str))
        return 0
    shown = ordered(space for s in summaries for space in s.scores) or ["classifier"]  # a space's columns apart
    # Piped or logged output gets a wide table rather than one squeezed into 80 columns (wider still for each
    # further feature space's columns). No :emoji: codes either: a run's name or options must show as written.
    wide = 180 + 54 * (len(shown) - 1)
    width = None if sys.stdout.isatty() else max(wide, shutil.get_terminal_size().columns)
    console = Console(width=width, emoji=False)
    folder = inert(args.checkpoints_dir)
    if not summaries:
        console.print(f"no runs under {folder}/ (train one: ganstudio train --data fashion)")
        return 0
    console.print(runs_table(summaries, shown, folder))
    return 0


def runs_table(summaries: list, shown: list[str], folder: str):
    """The Rich table of ``runs``: a row per run, the columns of each feature space in ``shown``."""
    from rich.table import Table

    from ganstudio.output.summaries import age, duration

    plural = "s" if len(summaries) != 1 else ""
    table = Table(title=f"{len(summaries)} run{plural} under {folder}/", title_justify="left")
    for column, justify in (
        ("run", "left"),
        ("data · model, options", "left"),
        ("steps · epochs", "right"),
        ("time · img/s", "right"),
        ("device", "left"),
        *[(head, "right") for space in shown for head in score_heads(space)],
        ("saved", "right"),
        ("status", "left"),
    ):
        table.add_column(
            column,
            justify=justify,
            overflow="fold",
            no_wrap=column == "run",
            min_width=26 if column.startswith("data") else 15 if "latest" in column else None,  # FD (classifier)
        )
    for s in summaries:
        if s.status in ("unreadable", "no checkpoint") or (s.status == "running" and not s.steps):
            problem = f"[red]{inert(s.problem)}[/red]" if s.status == "unreadable" else inert(s.problem or "")
            table.add_row(inert(s.name), problem, *[""] * (4 + 3 * len(shown)), status_text(s))
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
            *[cell for space in shown for cell in score_cells(s, space)],
            age(s.saved_at),
            status_text(s),
        )
    return table


def score_heads(space: str) -> tuple[str, str, str]:
    """The heads of one feature space's columns, each naming the space: ``FID (Inception)`` over ``latest (best)``."""
    distance = labelled(BEST, space, short=True)
    return f"{distance}\nlatest (best)", f"prec. / recall\n({space_name(space)})", f"floor\n{distance}"


def score_cells(s, space: str = "classifier") -> tuple[str, str, str]:
    """The latest FD (the best), precision / recall and the floor in ``space``, formatted as the score table says."""
    if space == "classifier":
        latest, best, floor = s.latest_eval or {}, s.best_eval or {}, s.floor_fid
    else:
        found = s.scores.get(space) or {}
        latest, best, floor = found.get("latest") or {}, found.get("best") or {}, found.get("floor_fid")
    fd = f"{BEST.show(latest[BEST.key])} ({BEST.show(best[BEST.key])})" if latest else "-"
    precision, recall = score("precision"), score("recall")
    both = precision.key in latest and recall.key in latest
    quality = f"{precision.show(latest[precision.key])} / {recall.show(latest[recall.key])}" if both else "-"
    return fd, quality, BEST.show(floor) if floor is not None else "-"


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
        "--sort",
        default="saved",
        metavar="KEY",
        help="order: saved (default: newest first), name, steps, time, speed, fid (best FD in the classifier's "
        "space first), fid_inception (best FID in Inception's), fid_<space> for another feature space",
    )
    p.add_argument("--json", action="store_true", help="print the summaries as JSON")
