"""``ganstudio report``: a self-contained HTML page for a run, or one comparing several.

    ganstudio report fashion-dcgan                    # samples/fashion-dcgan/report.html
    ganstudio report fashion-dcgan fashion-cdcgan     # samples/compare-fashion-dcgan-fashion-cdcgan.html

Every image is embedded, so the file opens offline, by mail, anywhere. Details: ganstudio/output/report.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ganstudio import hookimpl
from ganstudio.api.commands import add_folder_options
from ganstudio.errors import GanstudioError
from ganstudio.limits import LINE_CHARS, clean_text


def default_output(names: list[str], samples_dir: str) -> Path:
    if len(names) == 1:
        return Path(samples_dir) / names[0] / "report.html"
    joined = "-".join(names)
    if len(joined) > 120:
        joined = f"{names[0]}-and-{len(names) - 1}-more"
    return Path(samples_dir) / f"compare-{joined}.html"


def run_report(args) -> int:
    from ganstudio.output.report import comparison_page, run_page
    from ganstudio.output.summaries import summarize
    from ganstudio.store.atomic import atomic_write_text
    from ganstudio.store.runs import check_run_name

    names = list(dict.fromkeys(args.runs))
    summaries = []
    for name in names:
        check_run_name(name)
        run_dir = Path(args.checkpoints_dir) / name
        if not (run_dir / "last.pt").is_file():
            # Folder names from a shared disk: no escape codes reach the terminal through the error line.
            known = sorted(clean_text(p.parent.name) for p in Path(args.checkpoints_dir).glob("*/last.pt"))
            raise GanstudioError(
                f"no run '{name}' under {args.checkpoints_dir}/ (runs there: {', '.join(known) or 'none'})"
            )
        summary = summarize(run_dir, args.plugins)
        if summary.status == "unreadable":
            raise GanstudioError(summary.problem)
        summaries.append(summary)
    out = Path(args.out) if args.out else default_output(names, args.samples_dir)
    if out.suffix.lower() not in (".html", ".htm"):
        raise GanstudioError(f"--out {out}: a report is an .html file")
    notes: list[str] = []  # run files left out of the page (a link, not an image, too large), and why
    html = (
        run_page(summaries[0], args.plugins, Path(args.samples_dir), notes)
        if len(summaries) == 1
        else comparison_page(summaries, args.plugins, Path(args.samples_dir), notes)
    )
    try:
        atomic_write_text(out, html)
    except OSError as e:
        raise GanstudioError(f"could not write {out}: {e.strerror or e}") from None
    print(f"{out} ({len(html.encode()) / 1e6:.1f} MB, self-contained: open it in any browser)")
    if notes:
        left_out = f"{len(notes)} file{'s' if len(notes) > 1 else ''} left out of the page: {'; '.join(notes)}"
        print(clean_text(left_out, LINE_CHARS), file=sys.stderr)
    return 0


@hookimpl
def register_commands(cli):
    p = cli.command(
        "report",
        help="an HTML page for a run (samples, timeline, curves, scores, config), or comparing several",
        run=run_report,
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="one run name for its report, several to compare them")
    p.add_argument(
        "--out", metavar="FILE.html", help="default samples/<run>/report.html, or samples/compare-<runs>.html"
    )
    add_folder_options(p)
