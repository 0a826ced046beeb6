"""« La séance en direct »: a JupyterHub service of the course that shows instructors where the class is.

Each self-check run in a student's kernel on the course's hub posts its verdict here (`autograder.live`):
TP, function, points, the key of the named mistake. The sender is the owner of the hub token the request
carries (the student's server token), never a name in the request: nobody posts for someone else. Verdicts
are kept in an SQLite file of the course directory (`seance.sqlite`, one row per self-check).

Instructors (the hub scope `custom:seance:read`, granted to the course's graders' group) read a French
page that updates itself every few seconds: per TP and function, how many students pass and fail now
(their latest self-check), the most frequent named mistakes among those who fail, who has been failing
longest, and the number of students passing over the session. Anyone else gets a French refusal.

Run by the hub as a managed service (`deploy/jupyterhub_config.py`): `python -m autograder.seance`.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse


READ_SCOPE = "custom:seance:read"
REFRESH_S = 5
TREND_POINTS = 24
MAX_TEXT = 300


# ------------------------------------------------------------------ the verdicts, kept


@dataclass(frozen=True)
class Verdict:
    at: float
    student: str
    tp: str
    function: str
    points: float
    possible: float
    complete: bool
    mistake: str | None


class Store:
    """The session's verdicts in SQLite (one connection: the service is one thread)."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS verdicts (at REAL, student TEXT, tp TEXT, function TEXT, "
                        "points REAL, possible REAL, complete INTEGER, mistake TEXT)")
        self.db.commit()

    def add(self, verdict: Verdict) -> None:
        self.db.execute("INSERT INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (verdict.at, verdict.student, verdict.tp, verdict.function, verdict.points,
                         verdict.possible, int(verdict.complete), verdict.mistake))
        self.db.commit()

    def verdicts(self) -> list[Verdict]:
        rows = self.db.execute("SELECT * FROM verdicts ORDER BY at, rowid").fetchall()
        return [Verdict(at, student, tp, function, points, possible, bool(complete), mistake)
                for at, student, tp, function, points, possible, complete, mistake in rows]


def parse(body: bytes, student: str, now: float) -> Verdict:
    """A posted verdict, checked field by field (ValueError, in English, for the sender's logs)."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a JSON object is expected")
    text = {name: data.get(name) for name in ("tp", "function")}
    if not all(isinstance(v, str) and 0 < len(v) <= 60 for v in text.values()):
        raise ValueError("tp and function must be short strings")
    points, possible = data.get("points"), data.get("possible")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100 for v in (points, possible)):
        raise ValueError("points and possible must be numbers between 0 and 100")
    mistake = data.get("mistake")
    if mistake is not None and not (isinstance(mistake, str) and len(mistake) <= MAX_TEXT):
        raise ValueError("mistake must be a sentence of the catalogue, or null")
    return Verdict(now, student, text["tp"], text["function"], float(points), float(possible),
                   bool(data.get("complete")), mistake)


# ------------------------------------------------------------------ where the class is


@dataclass
class FunctionState:
    passing: list[str] = field(default_factory=list)
    failing: list[tuple[str, float]] = field(default_factory=list)  # (student, failing since)
    mistakes: Counter = field(default_factory=Counter)
    trend: list[int] = field(default_factory=list)


def state(verdicts: list[Verdict], now: float) -> dict[str, dict[str, FunctionState]]:
    """Per TP and function (in the order first seen): who passes and fails now, since when, which mistakes,
    and the number passing at `TREND_POINTS` moments from the session's first verdict to `now`."""
    history: dict[tuple[str, str], dict[str, list[Verdict]]] = defaultdict(lambda: defaultdict(list))
    for v in verdicts:
        history[v.tp, v.function][v.student].append(v)
    start = verdicts[0].at if verdicts else now
    moments = [start + (now - start) * k / (TREND_POINTS - 1) for k in range(TREND_POINTS)]
    result: dict[str, dict[str, FunctionState]] = {}
    for (tp, function), students in history.items():
        s = result.setdefault(tp, {}).setdefault(function, FunctionState())
        for student, events in students.items():
            if events[-1].complete:
                s.passing.append(student)
            else:
                since = events[-1].at
                for event in reversed(events):
                    if event.complete:
                        break
                    since = event.at
                s.failing.append((student, since))
                s.mistakes[events[-1].mistake] += 1
        s.failing.sort(key=lambda pair: pair[1])
        s.trend = [sum(1 for events in students.values() if _passing_at(events, t)) for t in moments]
    return result


def _passing_at(events: list[Verdict], t: float) -> bool:
    before = [e for e in events if e.at <= t]
    return bool(before) and before[-1].complete


# ------------------------------------------------------------------ the page


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes else f"{int(seconds)} s"


def sparkline(values: list[int], top: int) -> str:
    width, height = 120, 24
    if not values:
        return ""
    step = width / max(1, len(values) - 1)
    points = " ".join(f"{k * step:.1f},{height - 2 - (height - 4) * v / max(1, top):.1f}" for k, v in enumerate(values))
    return (f'<svg class="evolution" width="{width}" height="{height}" role="img" aria-label="réussites au fil de la '
            f'séance : de {values[0]} à {values[-1]}"><polyline fill="none" stroke="#2a7" stroke-width="2" '
            f'points="{points}"/></svg>')


def _mistakes(counter: Counter) -> str:
    items = "".join(f"<li>{html.escape(m or 'autre erreur (non répertoriée)')} <b>({n})</b></li>"
                    for m, n in counter.most_common(3))
    return f"<ul>{items}</ul>" if items else "—"


def _stuck(failing: list[tuple[str, float]], now: float) -> str:
    return ", ".join(f"{html.escape(student)} (depuis {duration(now - since)})" for student, since in failing[:3]) or "—"


def fragment(verdicts: list[Verdict], now: float) -> str:
    """The tables of the page (what it reloads)."""
    tps = state(verdicts, now)
    students = len({v.student for v in verdicts})
    clock = time.strftime("%H:%M:%S", time.localtime(now))
    head = (f'<p class="resume">{students} étudiant(s) ont lancé au moins une vérification ; '
            f'{len(verdicts)} vérification(s) en tout. Mis à jour à {clock}.</p>')
    if not verdicts:
        return head + "<p>Aucune vérification pour l'instant : les chiffres apparaissent dès qu'un étudiant lance « verifier(…) ».</p>"
    parts = [head]
    for tp, functions in tps.items():
        parts.append(f"<h2>{html.escape(tp)}</h2><table><tr><th>fonction</th><th>réussissent</th><th>échouent</th>"
                     "<th>erreurs les plus fréquentes (étudiants)</th><th>bloqués depuis le plus longtemps</th>"
                     "<th>réussites au fil de la séance</th></tr>")
        top = max((max(s.trend) for s in functions.values() if s.trend), default=1)
        for function, s in functions.items():
            parts.append(f'<tr data-fonction="{html.escape(function)}"><td><code>{html.escape(function)}</code></td>'
                         f'<td class="reussissent">{len(s.passing)}</td><td class="echouent">{len(s.failing)}</td>'
                         f"<td>{_mistakes(s.mistakes)}</td><td>{_stuck(s.failing, now)}</td>"
                         f"<td>{sparkline(s.trend, top)}</td></tr>")
        parts.append("</table>")
    return "".join(parts)


PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>La séance en direct — {course}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }}
td.reussissent {{ color: #175; font-weight: bold; }} td.echouent {{ color: #a22; font-weight: bold; }}
ul {{ margin: 0; padding-left: 1.1em; }} .resume {{ color: #555; }}
</style></head>
<body><h1>La séance en direct — {course}</h1>
<p>Chaque « verifier(…) » lancé par un étudiant sur le JupyterHub du cours : le TP, la fonction, les points et
l'erreur reconnue (jamais son code). « Réussissent » et « échouent » comptent la dernière vérification de
chaque étudiant. La page se met à jour toutes les {refresh} secondes.</p>
<div id="etat">{fragment}</div>
<script>
setInterval(async () => {{
  const answer = await fetch("etat", {{credentials: "same-origin"}});
  if (answer.ok) document.getElementById("etat").innerHTML = await answer.text();
}}, {refresh_ms});
</script></body></html>"""


# ------------------------------------------------------------------ the service


def make_app(store: Store, prefix: str, course: str):
    from jupyterhub.services.auth import HubAuthenticated, HubOAuthCallbackHandler, HubOAuthenticated
    from tornado import web

    class French(web.RequestHandler):
        def write_error(self, status_code: int, **kwargs) -> None:
            texts = {403: "Cette page est réservée aux enseignants du cours.",
                     400: "Vérification illisible : elle n'a pas été enregistrée."}
            self.finish(f"<!DOCTYPE html><html lang='fr'><meta charset='utf-8'><p>{texts.get(status_code, 'Erreur.')}"
                        f" ({status_code})</p></html>")

    class Page(HubOAuthenticated, French):
        hub_scopes = [READ_SCOPE]

        @web.authenticated
        def get(self) -> None:
            self.finish(PAGE.format(course=html.escape(course), refresh=REFRESH_S, refresh_ms=REFRESH_S * 1000,
                                    fragment=fragment(store.verdicts(), time.time())))

    class Fragment(Page):
        @web.authenticated
        def get(self) -> None:
            self.finish(fragment(store.verdicts(), time.time()))

    class Verdicts(HubAuthenticated, French):
        """POST by a student's kernel, with its hub token; the student is the token's owner."""

        def check_xsrf_cookie(self) -> None:  # token-authenticated API: no cookie involved
            pass

        @web.authenticated
        def post(self) -> None:
            try:
                verdict = parse(self.request.body, self.current_user["name"], time.time())
            except ValueError:
                raise web.HTTPError(400)
            store.add(verdict)
            self.set_status(204)
            self.finish()

    return web.Application([
        (prefix, Page), (prefix + "etat", Fragment), (prefix + "api/verdicts", Verdicts),
        (prefix + "oauth_callback", HubOAuthCallbackHandler)], cookie_secret=os.urandom(32))


def main() -> None:
    from tornado import ioloop

    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    store = Store(Path(os.environ.get("SEANCE_DATABASE", "seance.sqlite")))
    app = make_app(store, prefix, os.environ.get("SEANCE_COURSE", ""))
    app.listen(url.port, url.hostname)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
