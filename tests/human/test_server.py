"""The study server: what it serves, what it refuses (4xx, nothing changed), resuming, concurrency, and a
server killed mid-study."""

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ganbench.human.order import rater_order
from ganbench.human.server import StudyServer
from ganbench.runs import files


def _request(server, method, path, body=None, headers=None):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)  # the path goes out as written
    hdrs = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    if body is not None and "Content-Length" not in hdrs:
        hdrs["Content-Length"] = str(len(body))
    for k, v in hdrs.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def _post(server, obj, **kw):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return _request(server, "POST", "/api/judge", body, {"Content-Type": "application/json", **kw})


def _state(server, rater):
    status, _, data = _request(server, "GET", f"/api/state?rater={rater}")
    assert status == 200
    return json.loads(data)


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_serves_the_page_assets_and_the_study_images_only(server, study):
    status, headers, page = _request(server, "GET", "/")
    assert status == 200 and b"Real or generated?" in page and headers["Content-Type"].startswith("text/html")
    assert b"http" not in page.replace(b"http-equiv", b"")  # nothing fetched from elsewhere
    for path in ("/static/app.js", "/static/style.css"):
        status, _, body = _request(server, "GET", path)
        assert status == 200 and b"http://" not in body and b"https://" not in body
    status, headers, body = _request(server, "HEAD", "/")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(page)
    item = study.read_study()["items"][0]["id"]
    status, headers, png = _request(server, "GET", f"/img/{item}.png")
    assert status == 200 and headers["Content-Type"] == "image/png" and png == study.image(item).read_bytes()


def test_refusals_are_4xx_and_change_nothing(server, study, tmp_path):
    before = _snapshot(tmp_path)
    items = [it["id"] for it in study.read_study()["items"]]
    first = rater_order(study.read_study(), "eve")[0]
    good = {"rater": "eve", "item": first, "answer": "real", "ms": 1200}
    gets = ["/../study.json", "/static/../study.json", "/img/../study.json", "/%2e%2e/study.json",
            "/static/%2e%2e/%2e%2e/study.json", "/study.json", "/judgments.jsonl", "/study-images/" + items[0] + ".png",
            "/img/ffffffffffff.png", "/img/" + items[0] + ".PNG", "/img/" + items[0], "//etc/passwd",
            "/static/app.js/..", "/api/state?rater=../../x", "/api/state?rater=" + "a" * 41]  # fmt: skip
    for path in gets:
        status, _, _ = _request(server, "GET", path)
        assert 400 <= status < 500, path
    bad_posts = [
        _post(server, {**good, "item": "ffffffffffff"}),  # unknown id
        _post(server, {**good, "item": "../study"}),
        _post(server, {**good, "answer": "maybe"}),
        _post(server, {**good, "ms": -1}),
        _post(server, {**good, "ms": True}),
        _post(server, {**good, "ms": 1.5}),
        _post(server, {**good, "rater": "a/b"}),
        _post(server, {**good, "extra": 1}),
        _post(server, {k: v for k, v in good.items() if k != "ms"}),
        _post(server, [good]),
        _post(server, b"{not json"),
        _post(server, b"\xff\xfe"),
        _post(server, b"x" * 5000),  # oversized: refused before it is read
        _post(server, json.dumps(good).encode(), **{"Content-Length": "99999999"}),
        _post(server, json.dumps(good).encode(), **{"Content-Length": "abc"}),
        _post(server, json.dumps(good).encode(), **{"Content-Type": "text/plain"}),
        _request(server, "POST", "/api/judge", json.dumps(good).encode(), {}),  # no Content-Type
        _request(server, "POST", "/img/x.png", json.dumps(good).encode(), {"Content-Type": "application/json"}),
        _request(server, "PUT", "/api/judge", json.dumps(good).encode(), {"Content-Type": "application/json"}),
        _request(server, "DELETE", "/study.json"),
        _request(server, "OPTIONS", "/api/judge"),  # a cross-site preflight gets no CORS grant
        _request(server, "GET", "/", headers={"Host": "evil.example:80"}),  # DNS rebinding
        _post(server, {**good, "item": next(i for i in rater_order(study.read_study(), "eve") if i != first)}),
    ]  # fmt: skip
    codes = [status for status, _, _ in bad_posts]
    assert all(400 <= c < 500 for c in codes), codes
    assert codes[0] == 404 and codes[12] == 413 and codes[15] == 415 and codes[-2] == 421 and codes[-1] == 409
    assert all("Access-Control-Allow-Origin" not in h for _, h, _ in bad_posts)
    assert _snapshot(tmp_path) == before  # no judgment, no new file, nothing rewritten
    assert _state(server, "eve")["done"] == 0
    status, _, _ = _post(server, good)  # the same server still takes a good judgment
    assert status == 200 and [j["item"] for j in files.read_jsonl(study.judgments)] == [first]


def test_a_rater_resumes_where_they_stopped_on_a_new_server(server, study):
    s = _state(server, "ann")
    order = rater_order(study.read_study(), "ann")
    assert s["item"] == order[0] and s["total"] == len(order) == 11
    for i in range(4):
        status, _, data = _post(server, {"rater": "ann", "item": order[i], "answer": "fake", "ms": 10 + i})
        assert status == 200 and json.loads(data)["done"] == i + 1
    again = StudyServer(study, "127.0.0.1", 0)  # a restarted server reads the log
    try:
        assert again.state("ann") == {**s, "done": 4, "item": order[4], "image": f"/img/{order[4]}.png"}
    finally:
        again.server_close()
    # A new rater without a cookie gets an id and a cookie that brings them back.
    status, headers, data = _request(server, "GET", "/api/state")
    new = json.loads(data)["rater"]
    assert status == 200 and f"ganbench_rater={new};" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
    status, _, data = _request(server, "GET", "/api/state", headers={"Cookie": f"ganbench_rater={new}"})
    assert json.loads(data)["rater"] == new
    status, _, data = _request(server, "GET", "/api/state?new=1", headers={"Cookie": f"ganbench_rater={new}"})
    assert json.loads(data)["rater"] != new and json.loads(data)["done"] == 0  # "not you?": a new rater


def test_raters_judging_at_once_are_all_stored_once(server, study):
    raters = [f"r{i}" for i in range(6)]
    orders = {r: rater_order(study.read_study(), r) for r in raters}
    codes = []

    def judge(rater):
        for item in orders[rater]:
            for _ in range(2):  # a double click: the second post is a 409
                codes.append(_post(server, {"rater": rater, "item": item, "answer": "real", "ms": 5})[0])

    threads = [threading.Thread(target=judge, args=(r,)) for r in raters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = study.judgments.read_text().splitlines()
    stored = [json.loads(line) for line in lines]
    assert sorted(codes) == sorted([200, 409] * 11 * len(raters))
    for r in raters:
        assert [j["item"] for j in stored if j["rater"] == r] == orders[r]


def test_a_torn_last_line_is_cut_before_the_next_append(server, study):
    order = rater_order(study.read_study(), "tom")
    assert _post(server, {"rater": "tom", "item": order[0], "answer": "real", "ms": 1})[0] == 200
    with open(study.judgments, "ab") as f:
        f.write(b'{"rater": "tom", "item": "' + order[1].encode())  # a writer killed mid-line
    assert _post(server, {"rater": "tom", "item": order[1], "answer": "fake", "ms": 2})[0] == 200
    assert [(j["item"], j["answer"]) for j in files.read_jsonl(study.judgments)] == [(order[0], "real"),
                                                                                   (order[1], "fake")]  # fmt: skip


KILLED_SERVER = """
import sys
from ganbench.human.server import StudyServer
from ganbench.runs.layout import StudyDir
srv = StudyServer(StudyDir(sys.argv[1]), "127.0.0.1", 0)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def test_a_server_killed_mid_study_loses_no_answer(study):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SERVER, str(study.path)], stdout=subprocess.PIPE, env=env)
    try:
        port = int(proc.stdout.readline())
        order = rater_order(study.read_study(), "kim")
        for i in range(5):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            body = json.dumps({"rater": "kim", "item": order[i], "answer": "real", "ms": i}).encode()
            conn.request("POST", "/api/judge", body, {"Content-Type": "application/json"})
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert [j["item"] for j in files.read_jsonl(study.judgments)] == order[:5]
