"""The explore pages: /explore lists the runs with a checkpoint, /explore/{run} makes images from one (seed,
truncation, class, a row per class, a walk between two seeds), each with its PNG and the `ganstudio sample`
command that makes it again. Images come from explore_gen.py, through the code `sample` uses.

    GET /explore/{run}?checkpoint=best                              the page (last.pt unless best is asked)
    GET /explore/{run}/image.png?seed=7&truncation=0.7&class=3&scale=8     = sample RUN --seeds 7 ...
    GET /explore/{run}/grid.png?seed=7&columns=4                    = sample RUN --per-class 4 --seed 7
    GET /explore/{run}/between.png?a=7&b=8&t=0.35                   a fraction t of the way from seed 7 to 8

A bad parameter, an unknown run or a checkpoint that cannot be loaded answers JSON {"error": "one line"} with a 4xx
status; the image's command comes in the X-Ganstudio-Command header (percent-encoded), for the page to show.
"""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from ganstudio import limits
from ganstudio.config import TrainConfig
from ganstudio.errors import GanstudioError
from ganstudio.studio.explore_gen import (
    Generators,
    Loaded,
    Problem,
    between_png,
    class_of,
    image_png,
    per_class_png,
)

MAX_SEED = 2**63 - 1  # what torch.manual_seed takes, as `sample --seeds`
MAX_COLUMNS = 16  # columns of the page's row-per-class grid (each a request for one image)
DEFAULT_CHECKPOINTS_DIR = TrainConfig.default("checkpoints_dir")


def routes(studio):
    """The explore pages and their image endpoints."""
    from starlette.routing import Route

    def handler(function):
        async def endpoint(request):
            return await answer(studio, request, function)

        return endpoint

    return [
        Route("/explore", handler(list_page)),
        Route("/explore/{run}", handler(run_page)),
        Route("/explore/{run}/image.png", handler(image)),
        Route("/explore/{run}/grid.png", handler(grid)),
        Route("/explore/{run}/between.png", handler(between)),
    ]


def generators(studio) -> Generators:
    """The studio's one cache of loaded generators (studio.state["explore"])."""
    if "explore" not in studio.state:
        studio.state["explore"] = Generators(studio.checkpoints_dir, studio.plugins)
    return studio.state["explore"]


async def answer(studio, request, function):
    """``function(studio, request)`` in a worker thread (torch must not block the server); a Problem or any
    GanstudioError becomes JSON {"error": line} with a 4xx status, never a 500."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    try:
        return await run_in_threadpool(function, studio, request)
    except Problem as e:
        return JSONResponse({"error": str(e)}, status_code=e.status)
    except GanstudioError as e:
        return JSONResponse({"error": limits.clean_text(str(e), limits.LINE_CHARS)}, status_code=400)


# --- pages -----------------------------------------------------------------------------------------------------


def list_page(studio, request):
    """Every run under the checkpoints folder that holds a GAN checkpoint (or one that cannot be read, with why)."""
    from ganstudio.output.summaries import list_runs
    from ganstudio.store.paths import is_file

    try:
        runs, problem = list_runs(studio.checkpoints_dir, studio.plugins), None
    except GanstudioError as e:
        runs, problem = [], str(e)
    shown = [
        {"summary": s, "best": is_file(Path(s.run_dir) / "best.pt")}
        for s in runs
        if s.kind in ("gan", "") and is_file(Path(s.run_dir) / "last.pt")
    ]
    return studio.render(request, "explore.html", runs=shown, problem=problem)


def run_page(studio, request):
    """One run's page; a run whose checkpoint cannot be loaded is its one-line problem (with the 4xx status)."""
    from ganstudio.store.paths import is_file

    run, checkpoint = request.path_params["run"], request.query_params.get("checkpoint", "last")
    context = {"run": run, "checkpoint": checkpoint, "loaded": None, "problem": None, "has_best": False}
    try:
        loaded = generators(studio).get(run, checkpoint)
    except Problem as e:
        return studio.render(request, "explore_run.html", status_code=e.status, **{**context, "problem": str(e)})
    _, h, _ = loaded.image_shape
    context.update(
        loaded=loaded,
        has_best=is_file(loaded.path.with_name("best.pt")),
        classes=list(enumerate(loaded.names)),
        # enlargements that show 28 px and 64 px images at a useful size: main image, interpolation, grid cells
        scales={"main": fit(h, 256), "between": fit(h, 160), "cell": fit(h, 84)},
    )
    return studio.render(request, "explore_run.html", **context)


def fit(height: int, pixels: int) -> int:
    """The whole-number enlargement that shows an image (and sample's 2-pixel frame) at most ``pixels`` high."""
    return max(1, min(limits.SCALE, pixels // (height + 4)))


# --- images ----------------------------------------------------------------------------------------------------


def image(studio, request):
    loaded, query = generator_of(studio, request), request.query_params
    seed, truncation = seed_param(query, "seed"), truncation_param(query)
    label, scale = class_of(loaded, query.get("class")), scale_param(query)
    name = file_name(loaded, f"seed{seed:06d}", label, truncation)
    options = ["--seeds", str(seed), *common_options(truncation, label, scale)]
    png = image_png(loaded, seed, truncation, label, scale)
    return png_response(png, name, sample_command(studio, loaded, [*options, "--out", name]), query, seed)


def grid(studio, request):
    loaded, query = generator_of(studio, request), request.query_params
    seed, truncation, scale = seed_param(query, "seed"), truncation_param(query), scale_param(query)
    columns = whole_param(query, "columns", 1, MAX_COLUMNS, default=4)
    if seed + columns - 1 > MAX_SEED:
        raise Problem(f"seed {seed} with {columns} columns: the seeds run past {MAX_SEED}")
    name = file_name(loaded, f"per-class-{columns}-seed{seed}", None, truncation)
    options = ["--per-class", str(columns), "--seed", str(seed), *common_options(truncation, None, scale)]
    png = per_class_png(loaded, seed, columns, truncation, scale)
    return png_response(png, name, sample_command(studio, loaded, [*options, "--out", name]), query, seed)


def between(studio, request):
    """The image a fraction t from seed a to seed b; at t=0 and t=1 it is that seed's, with its sample command."""
    loaded, query = generator_of(studio, request), request.query_params
    a, b, t = seed_param(query, "a"), seed_param(query, "b"), fraction_param(query, "t")
    truncation, label, scale = truncation_param(query), class_of(loaded, query.get("class")), scale_param(query)
    png = between_png(loaded, a, b, t, truncation, label, scale)
    end = a if t == 0 else b if t == 1 else None
    if end is None:  # no command makes an in-between image; the page names its two ends'
        name = file_name(loaded, f"seed{a:06d}-to-{b:06d}-t{t!r}", label, truncation)
        return png_response(png, name, "", query, None)
    name = file_name(loaded, f"seed{end:06d}", label, truncation)
    options = ["--seeds", str(end), *common_options(truncation, label, scale), "--out", name]
    return png_response(png, name, sample_command(studio, loaded, options), query, end)


def generator_of(studio, request) -> Loaded:
    return generators(studio).get(request.path_params["run"], request.query_params.get("checkpoint", "last"))


def common_options(truncation: Optional[float], label: Optional[int], scale: int) -> list[str]:
    """The sample options for a truncation, a class and a scale (repr: the float the server used, exactly)."""
    options = ["--truncation", repr(truncation)] if truncation is not None else []
    options += ["--class", str(label)] if label is not None else []
    return options + (["--scale", str(scale)] if scale != 1 else [])


def file_name(loaded: Loaded, what: str, label: Optional[int], truncation: Optional[float]) -> str:
    """The PNG's name, for the download and the command's --out: tiny-dcgan-seed000007-class3-trunc0.7.png."""
    parts = [loaded.run, what]
    parts += [f"class{label}"] if label is not None else []
    parts += [f"trunc{truncation!r}"] if truncation is not None else []
    return "-".join(parts + (["best"] if loaded.checkpoint == "best" else [])) + ".png"


def sample_command(studio, loaded: Loaded, options: list[str]) -> str:
    """The `ganstudio sample` command, run where the studio was started, that writes these pixels."""
    words = ["ganstudio", "sample"]
    if loaded.checkpoint == "last":
        words.append(loaded.run)
        if Path(studio.checkpoints_dir) != Path(DEFAULT_CHECKPOINTS_DIR):
            words += ["--checkpoints-dir", str(studio.checkpoints_dir)]
    else:
        words += ["--checkpoint", str(loaded.path)]
    return " ".join(shlex.quote(word) for word in [*words, *options])


def png_response(png: bytes, name: str, command: str, query, seed: Optional[int]):
    from starlette.responses import Response

    disposition = "attachment" if query.get("download") == "1" else "inline"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "Cache-Control": "no-store",  # a newer last.pt makes other pixels under the same URL
        "X-Ganstudio-Command": quote(command, safe=" /=-_.,:'\"+"),
        "X-Ganstudio-File": name,
    }
    if seed is not None:
        headers["X-Ganstudio-Seed"] = str(seed)
    return Response(png, media_type="image/png", headers=headers)


# --- parameters: each bad one is one line naming it and what it takes -------------------------------------------


def seed_param(query, name: str) -> int:
    text = query.get(name)
    if text is None or text == "":
        raise Problem(f"{name}: missing (a seed: a whole number from 0 to {MAX_SEED})")
    if not re.fullmatch(r"\d{1,19}", text) or int(text) > MAX_SEED:
        raise Problem(f"{name} '{text[:40]}': expected a seed, a whole number from 0 to {MAX_SEED}")
    return int(text)


def truncation_param(query) -> Optional[float]:
    """None (no truncation) when absent or empty, else a threshold > 0 (latent values redrawn until |z| <= T)."""
    text = query.get("truncation")
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise Problem(f"truncation '{text[:40]}': expected a threshold greater than 0 (e.g. 0.7), or leave it out")
    return value


def fraction_param(query, name: str) -> float:
    text = query.get(name, "")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise Problem(f"{name} '{text[:40]}': expected a fraction from 0 (the first seed) to 1 (the second)")
    return value


def whole_param(query, name: str, low: int, high: int, default: int) -> int:
    text = query.get(name, "")
    if text == "":
        return default
    if not re.fullmatch(r"\d{1,9}", text) or not low <= int(text) <= high:
        raise Problem(f"{name} '{text[:40]}': expected a whole number from {low} to {high}")
    return int(text)


def scale_param(query) -> int:
    return whole_param(query, "scale", 1, limits.SCALE, default=1)
