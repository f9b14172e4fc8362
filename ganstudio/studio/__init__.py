"""``ganstudio studio``: the local web app that watches runs live, explores a generator by hand and starts and stops
training (docs/studio.md). Needs the optional extra: ``pip install 'ganstudio[studio]'`` (Starlette, uvicorn, Jinja2).

    app.py      the app: token and host guard, templates, the pages of runs.py, explore.py and launch.py
    server.py   the free port, the token, the URL printed, uvicorn
"""
