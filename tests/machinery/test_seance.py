"""« La séance en direct » without a hub: what a self-check sends, and what the page makes of it
(the hub end to end: tests/classroom/test_classroom_seance.py)."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from autograder import live, seance, selfcheck
from conftest import assignment, catalogue, student_namespace
from autograder.verdict import Remark, Result

MISTAKE = "moyenne au lieu de somme"


class Recorder(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.received.append((self.headers["Authorization"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def service(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Recorder.received = []
    monkeypatch.setenv(live.URL_VARIABLE, f"http://127.0.0.1:{server.server_port}/services/seance/api/verdicts")
    monkeypatch.setenv(live.TOKEN_VARIABLE, "jeton-du-serveur")
    yield Recorder.received
    server.shutdown()


def test_a_self_check_sends_its_verdict_with_the_servers_token_and_no_code(service):
    source = next(s for name, s, message in catalogue("tp09").WRONG if name == "loss" and MISTAKE in message)
    with pytest.raises(selfcheck.VerificationRatee):
        selfcheck.verifier("tp09", student_namespace("tp09", source))("loss")
    deadline = time.monotonic() + 10
    while not service and time.monotonic() < deadline:
        time.sleep(0.05)
    (token, sent), = service
    assert token == "token jeton-du-serveur"
    assert sent["tp"] == "tp09" and sent["function"] == "loss" and not sent["complete"] and sent["points"] == 0
    assert MISTAKE in sent["mistake"] and "torch.mean" not in json.dumps(sent)
    assert set(sent) == {"tp", "function", "points", "possible", "complete", "mistake"}


def test_outside_the_hub_nothing_is_sent(monkeypatch):
    monkeypatch.delenv(live.URL_VARIABLE, raising=False)
    result = Result(function="loss", points=1, possible=1, remarks=(), complete=True)
    assert live.send("tp09", "loss", result, []) is None


def test_only_a_catalogued_mistake_is_named():
    remarks = (Remark(text="erreur à l'exécution{case} : {erreur}", values={"erreur": "NameError: mon_code"}),)
    result = Result(function="loss", points=0, possible=1, remarks=remarks)
    assert live.payload("tp09", "loss", result, ["moyenne au lieu de somme."])["mistake"] is None


@pytest.mark.parametrize("body", [b"[]", b'{"tp": "tp09"}', b'{"tp": "tp09", "function": "loss", "points": "1", '
                                  b'"possible": 1}', b'{"tp": "tp09", "function": "loss", "points": 1, "possible": 1, '
                                  b'"mistake": 3}', b"pas du json"])
def test_a_malformed_verdict_is_refused(body):
    with pytest.raises(ValueError):
        seance.parse(body, "ana", 0.0)


def verdict(at, student, function, complete, mistake=None):
    return seance.Verdict(at, student, "tp09", function, 1.0 if complete else 0.0, 1.0, complete, mistake)


def test_the_page_counts_each_students_latest_verdict_and_who_is_stuck_longest():
    verdicts = [verdict(0, "ana", "loss", False, MISTAKE), verdict(60, "ben", "loss", False, MISTAKE),
                verdict(120, "ana", "loss", False, MISTAKE), verdict(180, "cleo", "loss", True),
                verdict(240, "ben", "loss", True), verdict(300, "ben", "dloss", False, None)]
    now = 600
    tp = seance.state(verdicts, now)["tp09"]
    assert sorted(tp["loss"].passing) == ["ben", "cleo"] and tp["loss"].failing == [("ana", 0)]
    assert tp["loss"].mistakes == {MISTAKE: 1} and tp["dloss"].failing == [("ben", 300)]
    assert tp["loss"].trend[0] == 0 and tp["loss"].trend[-1] == 2
    page = seance.fragment(verdicts, now)
    assert "ana (depuis 10 min)" in page and "autre erreur (non répertoriée)" in page
    assert '<td class="reussissent">2</td><td class="echouent">1</td>' in page


def test_the_store_keeps_verdicts_in_the_course_directory(tmp_path):
    store = seance.Store(tmp_path / "seance.sqlite")
    store.add(verdict(1.5, "ana", "loss", False, MISTAKE))
    assert seance.Store(tmp_path / "seance.sqlite").verdicts() == [verdict(1.5, "ana", "loss", False, MISTAKE)]


def test_every_catalogued_mistake_is_a_key_the_service_accepts():
    """The key sent is the spec's own sentence: the service refuses longer ones."""
    for tp in ("tp09", "tp10", "tp11"):
        graded = assignment(tp)
        keys = {m.message for spec in graded.specs.values() for m in getattr(spec, "mistakes", ())}
        assert keys and all(isinstance(k, str) and 0 < len(k) <= seance.MAX_TEXT for k in keys), tp


def test_the_mistake_names_its_output_and_the_training_its_label():
    remarks = (Remark(text="`{output}` est transposé{case}.", output="dl_w", case="float32"),)
    sent = live.payload("tp09", "training", Result(function="entraînement", points=0, possible=3, remarks=remarks),
                        ["`{output}` est transposé{case}."])
    assert sent["mistake"] == "`dl_w` est transposé." and sent["function"] == "entraînement"
