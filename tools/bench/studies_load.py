#!/usr/bin/env python3
"""Load test of the study answer endpoint with wrk (Debian package `wrk`).

    CARGO_TARGET_DIR=... python3 tools/bench/studies_load.py [--participants 2000] [--trials 10]
        [--connections 200] [--threads 2] [--kill-after 4] [--rate 5000]

Starts the release server on a fresh data dir, creates a researcher, a live pairwise study
(3 conditions x 20 prompts, tiny generated videos), lets N participants join, writes every
answer they owe (interleaved across participants so each stays under the per-participant rate
limit) and replays them once with wrk at C concurrent connections: first paced (each connection
waits a think time, offering about --rate answers/s: the latency at that load), then back to
back (the saturation throughput). Reports answers/s,
p50/p99, and compares the acknowledged count with the rows in SQLite. With --kill-after S a
second round (fresh participants) is run and the server is killed with SIGKILL after S seconds;
then every acknowledged answer must still be in the database.
"""
import argparse
import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "magictime")
LUA = os.path.join(ROOT, "tools", "bench", "answers.lua")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


class Browser:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        self.get("/login")

    @property
    def csrf(self):
        # read on every request: logging in replaces the anonymous token with the session's
        return next((c.value for c in self.jar if c.name == "mt_csrf"), "")

    def req(self, method, path, data=None, ctype=None, client=None):
        headers = {"x-csrf-token": self.csrf}
        if client:
            headers["x-forwarded-for"] = client
        if ctype:
            headers["content-type"] = ctype
        r = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.op.open(r) as res:
                return res.status, res.headers, res.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get(self, path):
        return self.req("GET", path)

    def form(self, path, fields):
        fields = dict(fields, csrf_token=self.csrf)
        return self.req("POST", path, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")

    def json(self, path, body, client=None):
        return self.req("POST", path, json.dumps(body).encode(), "application/json", client)


def start_server(data, port):
    log = open(os.path.join(data, "server.log"), "a")
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    # --insecure-http: the plain cookie names over http (urllib keeps no Secure cookies there);
    # --trusted-proxy: each participant comes from an address of its own (X-Forwarded-For), as
    # real ones do, so the per-address join and answer limits see one participant each
    p = subprocess.Popen([BIN, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data,
                          "--insecure-http", "--trusted-proxy", "127.0.0.1"],
                         stdout=log, stderr=log, env=env)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def client_address(i):
    """Participant i's own (documentation-range-like, private) address."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def write_bodies(path, bodies):
    """One answer a line: the participant's address, a tab, the JSON body (answers.lua)."""
    with open(path, "w") as f:
        f.writelines(f"{ip}\t{json.dumps(b, separators=(',', ':'))}\n" for ip, b in bodies)


def join_all(b, slug, n, tag):
    """Participants join; returns (address, answer body) they owe, interleaved round-robin."""
    per = []
    for i in range(n):
        ip = client_address(i)
        st, _, body = b.json(f"/s/{slug}/join", {"PROLIFIC_PID": f"{tag}-{i}"}, ip)
        assert st == 200, body
        s = json.loads(body)
        mine = []
        for t in s["trials"]:
            for q in t["questions"]:
                m = re.search(r"choose video (\d)", q["text"])
                choice = int(m.group(1)) - 1 if m else (-1 if t["media"][0] == t["media"][1] else i % 2)
                mine.append((ip, {"token": s["token"], "trial": t["id"], "criterion": q["criterion"],
                                  "choice": choice, "rt_ms": 4000, "viewed": True}))
        per.append(mine)
    out = []
    for k in range(max(len(p) for p in per)):
        out.extend(p[k] for p in per if k < len(p))
    return out


def run_wrk(base, bodies_path, csrf, threads, conns, duration, kill=None, think_ms=0):
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{duration}s", "--latency", "-s", LUA,
           base, "--", bodies_path, str(threads), csrf, str(think_ms)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    if kill is not None:
        server, after = kill
        time.sleep(after)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        print(f"  server killed with SIGKILL after {after} s")
    out, _ = p.communicate()
    res = {}
    for line in out.splitlines():
        if line.startswith(("RESULT", "LATENCY", "RATE")):
            for kv in line.split()[1:]:
                k, v = kv.split("=")
                res[k] = float(v)
    return res, out


def stored(data, study_id, tag):
    db = sqlite3.connect(os.path.join(data, "magictime.sqlite"))
    n = db.execute("SELECT COUNT(*) FROM answers a JOIN trials t ON t.id = a.trial_id "
                   "JOIN participants p ON p.id = t.participant_id WHERE p.study_id = ? AND p.external_id LIKE ?",
                   (study_id, tag + "-%")).fetchone()[0]
    db.close()
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--participants", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kill-after", type=float, default=4.0)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rate", type=int, default=5000,
                    help="answers/s offered in the paced round (0 skips it)")
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="mt-bench-")
    subprocess.run([BIN, "admin", "create", "--email", "bench@test.org", "--role", "researcher",
                    "--data-dir", data], input=b"bench-pass-123\n", check=True, stdout=subprocess.DEVNULL)
    for ci, cond in enumerate(["A", "B", "C"]):
        d = os.path.join(data, "import", cond)
        os.makedirs(d)
        for p in range(20):
            subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                            f"color=c=0x{ci * 60:02x}{p * 10:02x}80:s=32x32:r=8:d=1", "-pix_fmt", "yuv420p",
                            os.path.join(d, f"prompt_{p}.mp4")], check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(data, port)
    try:
        r = Browser(base)
        st, _, _ = r.form("/api/login", {"email": "bench@test.org", "password": "bench-pass-123"})
        st, h, _ = r.form("/studies/new", {"title": "bench", "kind": "pairwise",
                                           "trials_per_participant": str(args.trials)})
        sid = int(h["location"].rsplit("/", 1)[1])
        # Unpaced by the server's clock (no minimum time, no full view required: its check would
        # refuse answers sent before the videos' length), ties and the practice trial on.
        r.form(f"/studies/{sid}/design", {"width": "32", "height": "32", "fps": "8", "min_time_ms": "0",
                                          "flags": "1", "allow_tie": "on", "practice_trial": "on"})
        st, _, body = r.form(f"/studies/{sid}/import", {"path": os.path.join(data, "import")})
        assert st == 303, body
        st, _, body = r.form(f"/studies/{sid}/status", {"to": "live"})
        assert st == 303, body
        html = r.get(f"/studies/{sid}")[2].decode()
        slug = re.search(r'href="/s/([0-9a-f]+)"', html).group(1)

        p = Browser(base)
        ok0 = True
        if args.rate > 0:
            # Paced round: each connection is a participant who waits a think time between
            # answers, so the offered load is about --rate answers/s (not the saturation point):
            # the latency the participants see at that rate.
            per_participant = max(1, len(join_all(p, slug, 1, "probe")))
            need = args.rate * args.duration * 11 // 10
            bodies = join_all(p, slug, need // per_participant + 1, "r0")
            path = os.path.join(data, "answers0.jsonl")
            write_bodies(path, bodies)
            think = int(round(1000 * args.connections / args.rate * 0.9))
            res, out = run_wrk(base, path, p.csrf, args.threads, args.connections, args.duration,
                               think_ms=think)
            print(out)
            n = stored(data, sid, "r0")
            acked = int(res.get("acked", -1))
            ok0 = acked <= n <= acked + args.connections
            print(f"ROUND 0 (paced, {args.connections} participants, think {think} ms, offered ~{args.rate}/s): "
                  f"{res.get('answers_per_s', 0):.0f} answers/s, p50 {res.get('p50_ms')} ms, "
                  f"p99 {res.get('p99_ms')} ms; acknowledged {acked}, stored {n}")

        t0 = time.time()
        bodies = join_all(p, slug, args.participants, "r1")
        print(f"{args.participants} participants joined in {time.time() - t0:.1f} s; {len(bodies)} answers to send")
        path = os.path.join(data, "answers1.jsonl")
        write_bodies(path, bodies)
        res, out = run_wrk(base, path, p.csrf, args.threads, args.connections, args.duration)
        print(out)
        n = stored(data, sid, "r1")
        print(f"ROUND 1: {res.get('answers_per_s', 0):.0f} answers/s, p50 {res.get('p50_ms')} ms, "
              f"p99 {res.get('p99_ms')} ms; acknowledged {int(res.get('acked', 0))}, stored {n}, "
              f"refused {int(res.get('refused', 0))}")
        # wrk stops at the deadline with up to one request in flight per connection: those may be
        # committed without wrk reading the acknowledgement, never the other way round.
        acked = int(res.get("acked", -1))
        ok1 = acked <= n <= acked + args.connections
        print(f"  acknowledged but not stored: {max(0, acked - n)}; stored while wrk was closing: {n - acked}")

        bodies = join_all(p, slug, args.participants // 2, "r2")
        path = os.path.join(data, "answers2.jsonl")
        write_bodies(path, bodies)
        res, out = run_wrk(base, path, p.csrf, args.threads, args.connections,
                           int(args.kill_after) + 4, kill=(server, args.kill_after))
        print(out)
        n = stored(data, sid, "r2")
        acked = int(res.get("acked", 0))
        print(f"ROUND 2 (SIGKILL after {args.kill_after} s): acknowledged {acked}, stored after restart {n}, "
              f"lost {max(0, acked - n)}")
        ok2 = n >= acked
        print("OK" if ok0 and ok1 and ok2 else "FAILED")
        return 0 if ok0 and ok1 and ok2 else 1
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())
