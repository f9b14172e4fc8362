"""The HTML the report pages share: style sheet, image check script, run colours, tags, embedding a run's files."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Optional

from ganstudio.errors import GanstudioError
from ganstudio.store.rundir import read_embedded_image

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem;
       color: #1d1d1f; background: #fafafa; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
.meta { color: #555; margin: .2rem 0; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: .7rem; font-size: .85rem; color: white; }
.finished { background: #2e7d32; } .interrupted { background: #ef6c00; } .running { background: #0277bd; }
.diverged, .failed, .unreadable { background: #c62828; } .no { background: #757575; }
img.pixels { image-rendering: pixelated; max-width: 100%; border: 1px solid #ccc; background: black; }
img.plot { max-width: 100%; border: 1px solid #ddd; background: white; }
table { border-collapse: collapse; margin: .5rem 0; background: white; font-size: .85rem; }
th, td { border: 1px solid #ddd; padding: .25rem .45rem; text-align: right; } th { background: #f0f0f0; }
td.l, th.l { text-align: left; }
pre { background: #272822; color: #f8f8f2; padding: .8rem; overflow-x: auto; border-radius: .3rem; }
.row { display: flex; flex-wrap: wrap; gap: .8rem; align-items: flex-start; }
figure { margin: 0; } figcaption { color: #555; font-size: .9rem; margin-top: .2rem; }
.row figure { max-width: 366px; }  /* side by side: the caption wraps under its own grid */
"""

# Counts the images that did not load (a test reads these attributes from the rendered page).
CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  document.body.dataset.images = images.length;
  document.body.dataset.broken = images.filter(i => !i.complete || i.naturalWidth === 0).length;
});
</script>"""


def esc(text) -> str:
    return html.escape(str(text))


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def png_bytes(array) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", array, extension=".png")


def img(data: bytes, mime: str = "image/png", cls: str = "pixels", alt: str = "", width: Optional[int] = None) -> str:
    size = f' width="{width}"' if width else ""
    return f'<img class="{cls}" alt="{esc(alt)}" src="{data_uri(data, mime)}"{size}>'


def page(title: str, body: list[str]) -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)}</title><style>{STYLE}</style>{CHECK_SCRIPT}</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


MIME = {"png": "image/png", "gif": "image/gif"}


def embedded(folder: Path, name: str, kind: str, notes: list, **shown) -> str:
    """The <img> of a run's own file, checked by read_embedded_image; "" when there is none. A refused file (a link,
    not a PNG/GIF, too large) becomes a visible note saying why, and the reason is added to ``notes``."""
    try:
        data = read_embedded_image(folder, name, kind)
    except GanstudioError as e:
        why = f"{name} not embedded: {e}"
        notes.append(why)
        return f'<p class="meta">{esc(why)}</p>'
    return img(data, MIME[kind], **shown) if data is not None else ""
