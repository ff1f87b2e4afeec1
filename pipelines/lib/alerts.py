"""Alerts to a webhook: a failed run, a source gone stale by the wall clock.

ANALYTICS_ALERT_WEBHOOK is an http(s) URL that receives one POST per alert, a JSON body:

    {"source": "platform-warehouse", "kind": "run_failure" | "stale_source",
     "summary": "<one line>", "link": "<the Dagster UI page>", "run_id": "<id or null>",
     "details": {...}, "sent_at": "<UTC ISO 8601>"}

A refused or unreachable webhook is retried with back-off (a 4xx answer is not: the request itself
is wrong); an alert that still cannot be delivered is logged, never raised: alerting never fails or
holds back a run. Without a webhook, alerts are logged (and the failed run or red check is in the
UI anyway). ANALYTICS_UI_URL is the UI's address the links point at.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

DEFAULT_UI_URL = "http://127.0.0.1:3000"


@dataclass(frozen=True)
class Alert:
    kind: str  # run_failure | stale_source
    summary: str
    link: str
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"source": "platform-warehouse", "kind": self.kind, "summary": self.summary, "link": self.link,
                "run_id": self.run_id, "details": self.details,
                "sent_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}


def webhook_url() -> str | None:
    """The webhook from the environment, or None; anything but an http(s) URL is a configuration
    error (urllib would also open file: and ftp: URLs)."""
    url = os.environ.get("ANALYTICS_ALERT_WEBHOOK", "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:  # a bad port, a bracket out of place
        parts = None
    # a space or control character: urllib refuses the URL only when sending, with an error of its own
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
            or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError(f"ANALYTICS_ALERT_WEBHOOK must be an http(s) URL without spaces, not {redacted(url)!r}")
    return url


def redacted(url: str) -> str:
    """A webhook URL as logs and run history may show it: scheme and host, never the path or query
    (a webhook's secret is usually its path)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<unparseable URL>"
    return f"{parts.scheme}://{host}/..." if host else "<not a URL>"


def ui_link(path: str) -> str:
    return os.environ.get("ANALYTICS_UI_URL", DEFAULT_UI_URL).rstrip("/") + "/" + quote(path.lstrip("/"), safe="/?=&")


def send(alert: Alert, *, url: str | None = None, attempts: int = 4, backoff_seconds: float = 1.0,
         timeout_seconds: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> str:
    """Deliver one alert; returns what happened ('sent', 'logged: no webhook', 'failed: ...').
    Waits at most about attempts x timeout + backoff x (2^(attempts-1) - 1) seconds."""
    try:
        url = url or webhook_url()
    except ValueError as e:
        log.error("alert not sent (%s): %s", e, alert.summary)
        return f"failed: {e}"
    if url is None:
        log.warning("alert (no ANALYTICS_ALERT_WEBHOOK set): %s %s", alert.summary, alert.link)
        return "logged: no webhook"
    data = json.dumps(alert.body(), sort_keys=True).encode()
    problem = ""
    for attempt in range(attempts):
        if attempt:
            sleep(backoff_seconds * 2 ** (attempt - 1))
        try:
            request = urllib.request.Request(url, data=data, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
                response.read()
            return "sent"
        except urllib.error.HTTPError as e:
            problem = f"HTTP {e.code}"
            if 400 <= e.code < 500 and e.code not in (408, 429):
                break  # the webhook refuses this request: sending it again changes nothing
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            problem = str(getattr(e, "reason", e)).replace(url, redacted(url))
        except Exception as e:  # noqa: BLE001 - alerting never fails a run (http.client.InvalidURL, ...)
            problem = f"{type(e).__name__}: the URL {redacted(url)} is refused"  # its text may quote the path
            break
    log.error("alert not delivered after %d attempt(s) (%s): %s", attempt + 1, problem, alert.summary)
    return f"failed: {problem}"
