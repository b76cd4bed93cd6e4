"""``GET timeline``: one self-contained HTML page (``static/timeline.html``: no build step, no third-party
scripts) that reads ``timelines`` next to its own URL, served with a policy that allows only its own code.

``embed_snapshot`` puts the same data into the page, so a demo or an e-mail can carry it without a server.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.web.responses import HttpResult, Request

PAGE_FILE = Path(__file__).resolve().parent / "static" / "timeline.html"
HTML = "text/html"
SNAPSHOT_SLOT = '<script id="snapshot-data" type="application/json">null</script>'
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@dataclass(frozen=True)
class ShippedPage:
    html: str
    headers: tuple[tuple[str, str], ...]


def vm_timeline_page(request: Request) -> HttpResult:
    """The HTML page; it loads its data from ``timelines`` with the same function key.

    It reads no storage and no setting, so the page still loads (and says what went wrong) when storage
    is down or a setting is wrong.
    """
    page = shipped_page()
    return HttpResult(200, page.html, HTML, page.headers)


def embed_snapshot(html: str, data: dict[str, Any]) -> str:
    """``html`` with ``data`` in its snapshot slot, escaped so no value can end the script element."""
    text = json.dumps(data, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if html.count(SNAPSHOT_SLOT) != 1:
        raise ValueError("the timeline page has no single snapshot slot")
    return html.replace(SNAPSHOT_SLOT, SNAPSHOT_SLOT.replace(">null<", f">{text}<"))


@functools.cache
def shipped_page() -> ShippedPage:
    """The page as shipped, read once per process, with a policy that allows only its own inline code."""
    html = PAGE_FILE.read_text(encoding="utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes[kind].append(f"'sha256-{digest}'")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {' '.join(hashes['script'])}",
            f"style-src {' '.join(hashes['style'])}",
            "connect-src 'self'",
            "img-src 'self' blob: data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = (
        ("Content-Security-Policy", policy),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-cache"),
    )
    return ShippedPage(html, headers)
