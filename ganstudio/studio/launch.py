"""The Train page: start ``ganstudio train`` from a form, watch the trainings the studio started, stop them with the
clean save of Ctrl-C, continue a run with ``--resume``.

    GET  /train                       the page: the form, the runs that can be continued, the trainings started here
    GET  /train/options?data=&model=  the model's declared options with the defaults train would use (JSON)
    GET  /train/processes             the trainings started here and the runs that can be continued (JSON)
    POST /train/start  {data, model, options: {name: value}, name, steps, minutes}
    POST /train/stop   {name}         SIGINT: train finishes the step, saves and exits as on Ctrl-C
    POST /train/resume {name, steps, minutes}

Every POST needs the token header (app.py's TokenGuard). A problem is the CLI's one line as {"error": line}.
"""

from __future__ import annotations

import asyncio
import time

from ganstudio.errors import GanstudioError
from ganstudio.limits import clean_lines
from ganstudio.studio import launch_form as form
from ganstudio.studio.launch_procs import Training

RUNNING_AT_ONCE = 2  # trainings started from the page that may run together: each takes the machine's cores
KEPT = 20  # ended trainings the list keeps showing
START_WAIT_S = 60.0  # how long a start waits for train to open its run (or fail) before answering "starting"


def trainings(studio) -> list[Training]:
    """The trainings this studio started, oldest first (studio.state: they live as long as the studio)."""
    return studio.state.setdefault("trainings", [])


def problem(message, status: int = 400):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": clean_lines(str(message))}, status_code=status)


async def body_of(request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise GanstudioError("the request: expected a JSON object") from None
    if not isinstance(body, dict):
        raise GanstudioError("the request: expected a JSON object")
    return body


def page(studio):
    async def handler(request):
        data_names = list(studio.plugins.datasets)
        data = "fashion" if "fashion" in data_names else (data_names[0] if data_names else "")
        model = studio.plugins.datasets[data].default_model if data else ""
        options = form.option_fields(studio.plugins, data, model) if model in studio.plugins.models else []
        init = {
            "datasets": form.datasets(studio.plugins),
            "models": form.models(studio.plugins),
            "data": data,
            "model": model,
            "options": options,
            "at_once": RUNNING_AT_ONCE,
        }
        return studio.render(request, "train.html", init=init, resumable=form.resumable_runs(studio.checkpoints_dir))

    return handler


def options(studio):
    async def handler(request):
        data, model = request.query_params.get("data", ""), request.query_params.get("model", "")
        try:
            studio.plugins.dataset(data)
            fields = form.option_fields(studio.plugins, data, model)
        except GanstudioError as e:
            return problem(e)
        from starlette.responses import JSONResponse

        return JSONResponse({"data": data, "model": model, "options": fields})

    return handler


def processes(studio):
    async def handler(request):
        from starlette.responses import JSONResponse

        listed = [t.summary() for t in reversed(trainings(studio))]
        return JSONResponse({"trainings": listed, "resumable": form.resumable_runs(studio.checkpoints_dir)})

    return handler


async def launch(studio, args_of, request):
    """Check the form, start train, wait until it opened its run (or said why not): the answer of start/resume."""
    from starlette.responses import JSONResponse

    if busy := too_many(studio):
        return problem(busy, 409)
    try:
        name, args, budget = await asyncio.to_thread(args_of, studio, await body_of(request))
    except GanstudioError as e:
        return problem(e)
    if busy := too_many(studio):  # again: another start may have begun while this one was checked
        return problem(busy, 409)
    training = Training.start(name, args, resumed="--resume" in args, budget=budget)
    trainings(studio).append(training)
    deadline = time.monotonic() + START_WAIT_S
    while training.state() == "starting" and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    state = training.state()
    if state == "failed" or (state == "stopped" and not training.stop_sent):
        line = training.problem() or training.latest() or f"train exited {training.process.poll()}"
        trainings(studio).remove(training)
        training.forget()
        return problem(line)
    forget_old(studio)
    return JSONResponse({**training.summary(), "url": f"/runs/{name}"})


def too_many(studio) -> str:
    """One line when RUNNING_AT_ONCE trainings started here are running, else ""."""
    running = [t for t in trainings(studio) if t.alive]
    if len(running) < RUNNING_AT_ONCE:
        return ""
    names = ", ".join(t.name for t in running)
    return (
        f"{len(running)} trainings started here are running ({names}); at most {RUNNING_AT_ONCE} at once: stop one "
        "first (or start more with ganstudio train in a terminal)"
    )


def forget_old(studio) -> None:
    ended = [t for t in trainings(studio) if not t.alive]
    for old in ended[: max(0, len(ended) - KEPT)]:
        trainings(studio).remove(old)


def start(studio):
    async def handler(request):
        return await launch(studio, form.train_args, request)

    return handler


def resume(studio):
    async def handler(request):
        return await launch(studio, form.resume_args, request)

    return handler


def stop(studio):
    async def handler(request):
        from starlette.responses import JSONResponse

        try:
            body = await body_of(request)
            name = form.check_run_name(form.text(body, "name"))
        except GanstudioError as e:
            return problem(e)
        alive = [t for t in trainings(studio) if t.alive and t.name == name]
        if not alive:
            return problem(f"run '{name}' is not training from this page: nothing to stop", 409)
        alive[-1].stop()
        return JSONResponse(alive[-1].summary())

    return handler


def routes(studio):
    from starlette.routing import Route

    return [
        Route("/train", page(studio)),
        Route("/train/options", options(studio)),
        Route("/train/processes", processes(studio)),
        Route("/train/start", start(studio), methods=["POST"]),
        Route("/train/stop", stop(studio), methods=["POST"]),
        Route("/train/resume", resume(studio), methods=["POST"]),
    ]
