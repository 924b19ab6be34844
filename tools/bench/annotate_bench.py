#!/usr/bin/env python3
"""Annotation benchmark against the real release server (stdlib only).

1. Import of an N-item (default 10,000) JSONL manifest through `annot_create`: wall time and the
   server's peak RSS (VmHWM) before/after.
2. With N items in the project: server response time of the item page (SSR `/annotate/item/<id>`),
   of the item data (`/api/annot_item`) and of the assign (`annot_next`) + submit cycle:
   p50/p99 over R requests each, on one keep-alive connection.

Usage: tools/bench/annotate_bench.py [--items 10000] [--requests 500]
       (needs $CARGO_TARGET_DIR/release/magictime or target/release/magictime)
"""
import argparse, http.client, json, os, re, socket, statistics, subprocess, sys, tempfile, time, urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "magictime")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0  # MiB
    return float("nan")


class Browser:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.cookies = {}

    def req(self, method, path, body=None, json_accept=True):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            body = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if json_accept:
            headers["Accept"] = "application/json"
        t0 = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        dt = time.perf_counter() - t0
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, val = v.split(";")[0].split("=", 1)
                self.cookies[name] = val
        return r.status, data, dt

    def login(self, email, pw):
        _, html, _ = self.req("GET", "/login", json_accept=False)
        self.csrf = re.search(rb'name="csrf_token" value="([0-9a-f]{64})"', html).group(1).decode()
        st, _, _ = self.req("POST", "/api/login", {"csrf_token": self.csrf, "email": email, "password": pw})
        assert st in (200, 302, 303), st

    def call(self, endpoint, **form):
        st, data, dt = self.req("POST", f"/api/{endpoint}", {"csrf_token": self.csrf, **form})
        assert st == 200, (endpoint, st, data[:300])
        return json.loads(data), dt


def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def report(name, xs):
    ms = [x * 1000 for x in xs]
    print(f"{name:34s} n={len(ms):5d}  p50 {pct(ms, 50):7.2f} ms  p99 {pct(ms, 99):7.2f} ms  max {max(ms):7.2f} ms")
    return pct(ms, 99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--requests", type=int, default=500)
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="mt-annot-bench-")
    for email, pw, role in [("res@b.test", "res-pass-123", "researcher"), ("ann@b.test", "ann-pass-123", "annotator")]:
        subprocess.run([BIN, "admin", "create", "--email", email, "--role", role, "--data-dir", data],
                       input=pw + "\n", text=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.makedirs(f"{data}/datasets/big")
    with open(f"{data}/datasets/big/m.jsonl", "w") as f:
        for i in range(a.items):
            f.write(json.dumps({
                "videoid": f"v{i:06d}", "file": f"clips/v{i:06d}.mp4", "fps": 8.0, "frames": 64,
                "width": 512, "height": 512,
                "caption": f"Time-lapse of a flower {i} blooming from a closed bud to full bloom over a day.",
                "provenance": {"method": "llm", "model": "gpt-4o", "inputs": ["title", "tags", "keyframes"], "draft": True},
                "is_transmit": i % 2,
                "extra": {"title": f"Flower {i} 4K time-lapse", "tags": ["flower", "bloom"], "description": "x" * 200},
            }) + "\n")
    port = free_port()
    srv = subprocess.Popen([BIN, "serve", "--addr", f"127.0.0.1:{port}", "--data-dir", data],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close(); break
            except OSError:
                time.sleep(0.05)
        res, ann = Browser(port), Browser(port)
        res.login("res@b.test", "res-pass-123"); ann.login("ann@b.test", "ann-pass-123")
        rss0, hwm0 = vm(srv.pid, "VmRSS"), vm(srv.pid, "VmHWM")
        t0 = time.perf_counter()
        pid, _ = res.call("annot_create", name="big", manifest="big/m.jsonl", overlap="1",
                          lock_timeout_s="600", annotators="ann@b.test", reviewers="")
        t_import = time.perf_counter() - t0
        rss1, hwm1 = vm(srv.pid, "VmRSS"), vm(srv.pid, "VmHWM")
        mb = os.path.getsize(f"{data}/datasets/big/m.jsonl") / 2**20
        print(f"import of {a.items} items ({mb:.1f} MiB JSONL): {t_import:.2f} s "
              f"({a.items / t_import:.0f} items/s); server RSS {rss0:.0f} -> {rss1:.0f} MiB, "
              f"peak (VmHWM) {hwm0:.0f} -> {hwm1:.0f} MiB")
        page, api, cycle = [], [], []
        item, _ = ann.call("annot_next", project_id=str(pid))
        for _ in range(10):  # warm-up
            ann.req("GET", f"/annotate/item/{item}", json_accept=False)
        for _ in range(a.requests):
            st, body, dt = ann.req("GET", f"/annotate/item/{item}", json_accept=False)
            assert st == 200 and b"Caption" in body, st
            page.append(dt)
        for _ in range(a.requests):
            st, _, dt = ann.req("GET", f"/api/annot_item?item_id={item}")
            assert st == 200
            api.append(dt)
        for _ in range(min(a.requests, a.items - 1)):
            _, dt1 = ann.call("annot_submit", item_id=str(item), text="A flower opens.", flags="", checklist="subject")
            item, dt2 = ann.call("annot_next", project_id=str(pid))
            cycle.append(dt1 + dt2)
        print(f"with {a.items} items in the project:")
        p99 = report("item page (SSR /annotate/item/ID)", page)
        report("item data (/api/annot_item)", api)
        report("submit + next item", cycle)
        print(f"goal p99 < 50 ms for the item page: {'met' if p99 < 50 else 'NOT met'}")
    finally:
        srv.terminate(); srv.wait()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    main()
