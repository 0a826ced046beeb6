"""« La séance en direct », the kernel's side: each self-check's verdict sent to the course's hub service.

On the course's JupyterHub, the spawner sets `AUTOGRADER_SEANCE_URL` (the service's API) in the
students' servers, whose kernels also hold the server's hub token (`JUPYTERHUB_API_TOKEN`): the service
learns who sent a verdict from the token, never from what is sent. What is sent is the TP, the function,
the points and the key of the named mistake (the catalogue's French sentence, or nothing): never code,
never values. Outside the hub, or when the course turns the live session off (the variable unset),
nothing is sent. Sending happens in the background and gives up after a few seconds: a self-check never
waits on it nor fails because of it.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from typing import Iterable

from autograder.verdict import Result, fill

URL_VARIABLE = "AUTOGRADER_SEANCE_URL"
TOKEN_VARIABLE = "JUPYTERHUB_API_TOKEN"
TIMEOUT_S = 3.0


def payload(tp: str, function: str, result: Result, mistakes: Iterable[str]) -> dict:
    """What is sent of a verdict: no code and no value, only the catalogue's sentence of a named mistake, with
    the output it names (« `dl_w` est transposé… »); the function as the feedback labels it (« entraînement »)."""
    known = set(mistakes)
    named = next((fill(r.text, {"output": r.output, "case": ""}) for r in result.remarks if r.text in known), None)
    return {"tp": tp, "function": result.function or function, "points": result.points, "possible": result.possible,
            "complete": result.complete, "mistake": named}


def _post(url: str, token: str, data: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(data).encode(), method="POST",
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=TIMEOUT_S).close()
    except Exception:  # noqa: BLE001 - the live view is a courtesy: a self-check works without it
        pass


def send(tp: str, function: str, result: Result, mistakes: Iterable[str]) -> threading.Thread | None:
    """Sends the verdict in the background when the hub asks for it; the thread, or None when nothing is sent."""
    url, token = os.environ.get(URL_VARIABLE), os.environ.get(TOKEN_VARIABLE)
    if not url or not token:
        return None
    thread = threading.Thread(target=_post, args=(url, token, payload(tp, function, result, mistakes)), daemon=True)
    thread.start()
    return thread
