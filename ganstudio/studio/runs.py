"""The runs pages: every run in one table that updates itself, a run's live page (progress, charts that grow while it
trains, the timeline of its grids, its scores) and runs compared side by side.

    GET /runs                        the table of ``ganstudio runs``, sortable; live through /events/runs
    GET /runs/{name}                 a run, live through /runs/{name}/events (its state, then new metrics records)
    GET /runs/{name}/grid/{step}.png one saved fixed-latent grid; GET /runs/{name}/metrics: its records as points
    GET /compare?run=a&run=b         grids at the steps they share, curves overlaid, one score table

Runs are named by run name (check_run_name), images by run name and step: no request names a file. Everything is
read through store's validating readers and never locks a run; a damaged run is a one-line problem on its row.
"""

from __future__ import annotations

import asyncio
import json
import time

from ganstudio.errors import GanstudioError
from ganstudio.output.report_style import COLOURS
from ganstudio.output.summaries import reproduce_command
from ganstudio.studio.runs_data import COLUMNS, SummaryCache, grid_png, grid_steps, row, run_state
from ganstudio.studio.runs_metrics import last_log, new_points, safe_records

POLL_S = 1.0  # how often a stream reads the run folders again
# A stream ends after this long and the page reconnects at once, so stopping the studio waits for no open page
# longer than this (uvicorn lets running responses finish before it exits).
STREAM_S = 15.0
MOST_COMPARED = 8


def routes(studio):
    from starlette.routing import Route

    pages = RunsPages(studio)
    return [
        Route("/runs", pages.runs_page),
        Route("/events/runs", pages.runs_events),
        Route("/compare", pages.compare_page),
        Route("/runs/{name}", pages.run_page),
        Route("/runs/{name}/events", pages.run_events),
        Route("/runs/{name}/metrics", pages.run_metrics),
        Route("/runs/{name}/grid/{step:int}.png", pages.grid),
    ]


def problem(message: str, status: int = 404):
    """A request the studio cannot answer: one line as JSON ({"error": ...}), never a traceback."""
    from starlette.responses import JSONResponse

    return JSONResponse({"error": str(message).splitlines()[0] if str(message) else "not found"}, status_code=status)


class RunsPages:
    """The handlers of the runs pages over one SummaryCache of the studio's checkpoints folder."""

    def __init__(self, studio):
        self.studio = studio
        self.cache = studio.state.setdefault("runs", SummaryCache(studio.checkpoints_dir, studio.plugins))

    def rows(self) -> dict:
        """The runs table's rows, or the one line saying why there are none."""
        try:
            return {"rows": [row(s) for s in self.cache.all()], "problem": None}
        except (GanstudioError, OSError) as e:
            return {"rows": [], "problem": str(e)}

    def state(self, name: str) -> dict:
        """A run's live state (raises GanstudioError for a name that is not a run)."""
        summary = self.cache.get(name)
        records, metrics_problem = safe_records(self.cache.root / name)
        steps, grid_problem = grid_steps(self.studio.samples_dir / name)
        state = run_state(summary, last_log(records), steps, grid_problem)
        if metrics_problem and metrics_problem not in (state["problem"] or ""):
            state["problem"] = "; ".join(p for p in (state["problem"], metrics_problem) if p)
        return state

    def runs_page(self, request):
        columns = [{"key": k, "label": label, "numeric": numeric} for k, label, numeric in COLUMNS]
        return self.studio.render(request, "runs.html", data={"columns": columns, **self.rows()})

    def run_page(self, request):
        name = request.path_params["name"]
        try:
            state = self.state(name)
        except GanstudioError as e:
            return problem(e)
        summary = self.cache.get(name)
        command = reproduce_command(summary, self.studio.plugins) if summary.model else ""
        config = json.dumps(summary.config, indent=2, default=str)
        return self.studio.render(request, "run.html", run_name=name, state=state, command=command, config=config)

    def compare_page(self, request):
        names = list(dict.fromkeys(request.query_params.getlist("run")))
        if not 1 <= len(names) <= MOST_COMPARED:
            return problem(f"choose 1 to {MOST_COMPARED} runs to compare (/compare?run=a&run=b)", 400)
        try:
            summaries = [self.cache.get(name) for name in names]
        except GanstudioError as e:
            return problem(e)
        grids = {name: grid_steps(self.studio.samples_dir / name)[0] for name in names}
        shared = sorted(set.intersection(*(set(steps) for steps in grids.values())))
        columns = [{"key": k, "label": label, "numeric": numeric} for k, label, numeric in COLUMNS]
        rows = [row(s) for s in summaries]
        data = {"names": names, "shared": shared}
        return self.studio.render(request, "compare.html", columns=columns, rows=rows, data=data, colours=COLOURS)

    def run_metrics(self, request):
        name = request.path_params["name"]
        try:
            self.cache.get(name)
        except GanstudioError as e:
            return problem(e)
        from starlette.responses import JSONResponse

        records, metrics_problem = safe_records(self.cache.root / name)
        return JSONResponse({**new_points(records), "problem": metrics_problem})

    def grid(self, request):
        from starlette.responses import Response

        name, step = request.path_params["name"], request.path_params["step"]
        try:
            self.cache.get(name)
            data = grid_png(self.studio.samples_dir / name, step)
        except (GanstudioError, OSError) as e:
            return problem(e)
        if data is None:
            return problem(f"run '{name}' has no grid at step {step:,}")
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})

    async def runs_events(self, request):
        """The runs table's rows whenever they change."""

        def changes(seen: dict) -> list[tuple]:
            rows = self.rows()
            text = json.dumps(rows, default=str)
            if text == seen.get("rows"):
                return []
            seen["rows"] = text
            return [("rows", text, None)]

        return stream(request, changes, poll_s=2 * POLL_S)

    async def run_events(self, request):
        """A run's state whenever it changes, then the metrics records the page does not have yet (it says which
        it has through the event id, ``count:last_step``, which the browser sends back when it reconnects)."""
        name = request.path_params["name"]
        try:
            await asyncio.to_thread(self.cache.get, name)
        except GanstudioError as e:
            return problem(e)
        since, last_step = parse_id(request.headers.get("last-event-id") or request.query_params.get("since", ""))

        def changes(seen: dict) -> list[tuple]:
            events = []
            state = json.dumps(self.state(name), default=str)
            if state != seen.get("state"):
                seen["state"] = state
                events.append(("state", state, None))
            records, _ = safe_records(self.cache.root / name)
            have, step = seen.get("since", (since, last_step))
            if len(records) != have or (records and records[-1]["step"] != step):
                fresh = new_points(records, have, step)
                seen["since"] = (fresh["count"], fresh["last_step"])
                events.append(("metrics", json.dumps(fresh), f"{fresh['count']}:{fresh['last_step']}"))
            return events

        return stream(request, changes, poll_s=POLL_S)


def parse_id(text: str) -> tuple[int, object]:
    """``count:last_step`` of an event id (or a ``since`` count) -> (count, last step or None); junk -> (0, None)."""
    count, _, step = str(text).partition(":")
    if not count.isdigit() or len(count) > 12:
        return 0, None
    return int(count), int(step) if step.lstrip("-").isdigit() and len(step) < 20 else None


def stream(request, changes, poll_s: float):
    """A text/event-stream response: ``changes(seen)`` (run in a worker thread, so reading run files never blocks
    the server) every ``poll_s`` seconds, each (event, data, id) it returns sent; it ends after STREAM_S."""
    from starlette.responses import StreamingResponse

    async def events():
        yield "retry: 1000\n\n"
        seen: dict = {}
        started = time.monotonic()
        while time.monotonic() - started < STREAM_S:
            try:
                found = await asyncio.to_thread(changes, seen)
            except (GanstudioError, OSError) as e:
                found = [("problem", json.dumps({"error": str(e)}), None)]
            for event, data, event_id in found:
                yield f"event: {event}\n" + (f"id: {event_id}\n" if event_id else "") + f"data: {data}\n\n"
            await asyncio.sleep(poll_s)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
