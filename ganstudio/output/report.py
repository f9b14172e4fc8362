"""Report pages: one self-contained HTML file per run, or one comparing several (every image embedded, no network).

    html = run_page(summary, plugins, samples_dir)            # the final grid, timeline, curves, scores, config
    html = comparison_page(summaries, plugins, samples_dir)   # grids side by side at matching steps, overlaid curves

Grids are made fresh from each checkpoint (the averaged generator; a labelled row per class for class-conditional
models); the timeline GIF and curves are the run's own files from samples/<run>/.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Optional

from ganstudio.output.report_scores import comparison_table, distance_panels, scores_table
from ganstudio.output.report_style import COLOURS, embedded, esc, img, page, png_bytes
from ganstudio.output.summaries import RunSummary, age, duration, reproduce_command
from ganstudio.store.rundir import is_finite, metrics_records


def final_grid(summary: RunSummary, plugins, scale: int = 2) -> tuple[Optional[bytes], str]:
    """(PNG bytes, caption) of a fresh grid from the checkpoint's averaged generator; (None, why) for non-GANs."""
    from ganstudio.api.runs import load_model
    from ganstudio.output.generation import class_names_of, generate_images, per_class_inputs, seeded_inputs
    from ganstudio.output.images import enlarge, labelled_rows, make_grid

    if summary.kind != "gan":
        return None, f"a {summary.kind or 'non-GAN'} run makes no images"
    model, ckpt = load_model(Path(summary.run_dir) / "last.pt", plugins, kind="gan")
    weights = "averaged (EMA) generator" if (ckpt.get("ema") or {}).get("weights") else "generator"
    if model.condition == "class":
        names = class_names_of(model)
        cols = 10
        latents, labels = per_class_inputs(model, list(range(cols)))
        images = generate_images(model, latents, labels, "cpu")
        grid = labelled_rows(images, cols, names, scale=scale)
        caption = f"{len(names)} classes x {cols}, seeds 0-{cols - 1} per row, {weights}, step {summary.steps:,}"
        return png_bytes(grid), caption
    latents, labels = seeded_inputs(model, range(144))
    images = generate_images(model, latents, labels, "cpu")
    return png_bytes(enlarge(make_grid(images, cols=12), scale)), f"seeds 0-143, {weights}, step {summary.steps:,}"


def header(s: RunSummary) -> str:
    badge = f'<span class="badge {esc(s.status.split()[0])}">{esc(s.status)}</span>'
    parts = [f"<h1>{esc(s.name)} {badge}</h1>"]
    model = s.model + (f" ({esc(s.options_text)})" if s.options else "")
    parts.append(
        f'<p class="meta">{esc(s.data)} · {esc(model)} · {s.steps:,} steps · {s.epochs:.2f} epochs · '
        f"{duration(s.elapsed_s)} of training"
        + (f" · {s.images_per_s:,.0f} images/s" if s.images_per_s else "")
        + "</p>"
    )
    recorded = s.device and s.device != "auto"  # checkpoints before ganstudio 0.1's runs/report hold only the config
    where = (f"{s.device} ({s.precision})" if recorded else "device not recorded") + (
        f" x {s.world_size} processes" if s.world_size > 1 else ""
    )
    parts.append(
        f'<p class="meta">{esc(where)}'
        + (f" · {esc(s.machine)}" if s.machine else "")
        + f" · saved {esc(s.saved_at or '-')} ({esc(age(s.saved_at))})"
        + (f" · ganstudio {esc(s.ganstudio_version)}" if s.ganstudio_version else "")
        + "</p>"
    )
    if s.error:
        parts.append(f'<p class="meta"><b>ended with:</b> {esc(s.error)}</p>')
    if s.problem:
        parts.append(f'<p class="meta"><b>problem:</b> {esc(s.problem)}</p>')
    return "\n".join(parts)


def run_page(s: RunSummary, plugins, samples_dir: Path, notes: Optional[list] = None) -> str:
    """The page of one run; the reasons any of its files were left out are added to ``notes``."""
    notes = [] if notes is None else notes
    samples = Path(samples_dir) / s.name
    body = [header(s), "<h2>Samples</h2>"]
    grid, caption = final_grid(s, plugins)
    body.append(
        f"<figure>{img(grid, alt='final samples')}<figcaption>{esc(caption)}</figcaption></figure>"
        if grid
        else f"<p>{esc(caption)}.</p>"
    )
    timeline = embedded(samples, "timeline.gif", "gif", notes, alt="timeline", width=480)
    if timeline:
        body += [
            "<h2>Timeline</h2>",
            f"<figure>{timeline}<figcaption>the fixed-latent grid over training</figcaption></figure>",
        ]
    curves = embedded(samples, "curves.png", "png", notes, cls="plot", alt="training curves")
    if curves:
        body += ["<h2>Curves</h2>", curves]
    body += ["<h2>Scores</h2>", scores_table(s)]
    if s.results:  # what the model's evaluate() stored, e.g. a classifier's test accuracy
        body.append("<p>" + " · ".join(f"{esc(k)}: {esc(_fmt(v))}" for k, v in s.results.items()) + "</p>")
    body += [
        "<h2>Reproduce</h2>",
        f"<pre>{esc(reproduce_command(s, plugins))}</pre>",
        "<h2>Config</h2>",
        f"<pre>{esc(json.dumps(s.config, indent=2, default=str))}</pre>",
    ]
    return page(f"ganstudio report: {s.name}", body)


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def matching_steps(grid_files: list[dict[int, Path]], most: int = 4) -> list[int]:
    """Steps at which every run has a grid, at most ``most`` of them spread from the first to the last."""
    common = sorted(set.intersection(*(set(files) for files in grid_files))) if grid_files else []
    if len(common) > 1:
        common = common[1:] if common[0] == 0 else common  # the untrained step-0 grids say nothing about a run
    if len(common) <= most:
        return common
    picks = {common[round(i * (len(common) - 1) / (most - 1))] for i in range(most)}
    return sorted(picks)


def grid_files(samples: Path) -> dict[int, Path]:
    """step -> grid PNG, from the grid callback's grids.jsonl."""
    from ganstudio.store.atomic import read_jsonl

    found = {}
    for record in read_jsonl(samples / "grids.jsonl"):
        name = str(record.get("file", ""))
        # A plain PNG name inside the run's folder only: an edited index cannot embed another file in the page.
        if Path(name).name != name or not name.endswith(".png") or name.startswith("."):
            continue
        path = samples / name
        if isinstance(record.get("step"), int) and path.is_file() and not path.is_symlink():
            found[record["step"]] = path
    return found


def overlaid_curves(summaries: list[RunSummary]) -> Optional[bytes]:
    """One figure, each run one colour: G loss, D / critic loss, the Fréchet distance over steps (a panel per feature
    space: never two spaces on one axis), images/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("G loss", ("loss_g",)),
        ("D / critic loss", ("loss_d", "loss_critic", "loss")),
        *distance_panels(summaries),
        ("images/s", ("images_per_s",)),
    ]
    scored = {key for _, keys in distance_panels(summaries) for key in keys}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), dpi=100)
    drawn = False
    for i, s in enumerate(summaries):
        records = metrics_records(Path(s.run_dir) / "metrics.jsonl")[0]  # only records with a whole-number step
        for ax, (_, keys) in zip(axes, panels):
            key = next((k for k in keys if any(is_finite(r.get(k)) for r in records)), None)
            if key is None:
                continue
            points = [(r["step"], r[key]) for r in records if is_finite(r.get(key))]
            ax.plot(
                *zip(*points),
                color=COLOURS[i % len(COLOURS)],
                label=s.name,
                marker="o" if key in scored else None,
                markersize=3,
                linewidth=1.2,
            )
            drawn = True
    for ax, (title, _) in zip(axes, panels):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue() if drawn else None


def comparison_page(summaries: list[RunSummary], plugins, samples_dir: Path, notes: Optional[list] = None) -> str:
    """The page comparing runs; the reasons any of their files were left out are added to ``notes``."""
    notes = [] if notes is None else notes
    names = ", ".join(s.name for s in summaries)
    body = [
        f"<h1>{len(summaries)} runs compared</h1>",
        f'<p class="meta">{esc(names)}</p>',
        "<h2>Scores</h2>",
        comparison_table(summaries),
    ]
    if len({s.data for s in summaries}) > 1:
        body.append("<p class=meta>Note: these runs trained on different data; their scores are not comparable.</p>")
    body.append("<h2>Samples now</h2><div class=row>")
    for s in summaries:
        grid, caption = final_grid(s, plugins, scale=1 if len(summaries) > 1 else 2)  # side by side
        body.append(
            f"<figure>{img(grid, alt=s.name) if grid else ''}"
            f"<figcaption><b>{esc(s.name)}</b>: {esc(caption)}</figcaption></figure>"
        )
    body.append("</div>")
    files = [grid_files(Path(samples_dir) / s.name) for s in summaries]
    steps = matching_steps(files)
    body.append("<h2>At matching steps</h2>")
    if steps:
        body.append(
            "<p class=meta>Each run's fixed-latent grid (the same latents for runs with the same seed and "
            "latent size).</p>"
        )
        for step in steps:
            body.append(f"<h3>step {step:,}</h3><div class=row>")
            for s, found in zip(summaries, files):
                path = found[step]
                grid = embedded(path.parent, path.name, "png", notes, alt=f"{s.name} step {step}")
                body.append(f"<figure>{grid}<figcaption>{esc(s.name)}</figcaption></figure>")
            body.append("</div>")
    else:
        body.append(
            "<p>The runs have no grid at a common step (grids are written at epoch ends and every "
            "--grid-every steps).</p>"
        )
    curves = overlaid_curves(summaries)
    body.append(
        "<h2>Curves</h2>" + (img(curves, cls="plot", alt="overlaid curves") if curves else "<p>No metrics logged.</p>")
    )
    body.append("<h2>Reproduce</h2>" + "".join(f"<pre>{esc(reproduce_command(s, plugins))}</pre>" for s in summaries))
    return page(f"ganstudio: {names}", body)
