#!/usr/bin/env python3
"""Black-box security probe of a running Aftercare server (issue 23), standard library only.

Starts the given binary on a fresh SQLite file (or a fresh PostgreSQL database made beside
PROBE_DATABASE_URL's), creates two clinics, and tries what an attacker or a careless client would:
idempotency replays across identities, truncated and stalled uploads, webhook targets inside the
network, invitations after an address change, erasure and logout against live tokens, weak
passwords, NUL bytes, every photo view, a 49-megapixel 16-bit PNG against the memory bound, the
security headers, and cross-clinic invitations. It prints one line a check and, last,
`probe: N passed, M failed`; the exit status is 1 when any failed.

    python3 scripts/probe_security.py [--bin target/debug/aftercare] [--database-url postgres://…]
"""

import argparse
import email
import email.policy
import glob
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

STRONG = "violet-harbour-29-quietly-lantern"
RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""), flush=True)


class Server:
    def __init__(self, binary, database_url):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="aftercare-probe-")
        self.port = free_port()
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("AFTERCARE") or k in ("DATABASE_URL", "RUST_LOG"):
                del self.env[k]
        self.env.update(
            {
                "AFTERCARE__DATA_DIR": self.dir,
                "AFTERCARE__SERVER__BIND": f"127.0.0.1:{self.port}",
                "AFTERCARE__SERVER__PUBLIC_URL": f"http://127.0.0.1:{self.port}",
                "AFTERCARE__AUTH__LOGIN_PER_IP_PER_MINUTE": "1000",
                "AFTERCARE__LOG__LEVEL": "warn",
            }
        )
        self.pg_admin, self.pg_name = None, None
        if database_url:
            self.pg_admin = database_url
            self.pg_name = "aftercare_probe_" + "".join(random.choices(string.ascii_lowercase, k=10))
            psql(database_url, f'CREATE DATABASE "{self.pg_name}"')
            parts = urllib.parse.urlsplit(database_url)
            self.env["DATABASE_URL"] = urllib.parse.urlunsplit(parts._replace(path="/" + self.pg_name))
        self.proc = None

    def cli(self, *args, stdin=None, extra_env=None):
        env = dict(self.env, **(extra_env or {}))
        return subprocess.run([self.binary, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)

    def start(self):
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                if request(self, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: see {self.dir}/server.log")
            time.sleep(0.1)
        raise SystemExit("server did not become healthy in 60 s")

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def status(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.pg_name:
            psql(self.pg_admin, f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(self.dir, ignore_errors=True)

    def mails_to(self, address):
        found = []
        for path in sorted(glob.glob(os.path.join(self.dir, "mail", "*.eml")), key=os.path.getmtime):
            with open(path, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            if address in str(msg.get("To", "")):
                body = msg.get_body(preferencelist=("plain",))
                found.append((str(msg.get("Subject", "")), body.get_content() if body else ""))
        return found


def psql(url, sql):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql], check=True, capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(server, method, path, body=None, token=None, headers=None, scheme="Bearer", timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    h = dict(headers or {})
    data = None
    if body is not None:
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        else:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
    if token:
        h["Authorization"] = f"{scheme} {token}"
    conn.request(method, path, body=data, headers=h)
    res = conn.getresponse()
    raw = res.read()
    conn.close()
    return res.status, raw.decode("utf-8", "replace"), {k.lower(): v for k, v in res.getheaders()}


def as_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return {}


def login(server, mail, password=STRONG):
    status, text, _ = request(server, "POST", "/api/v1/auth/login", {"email": mail, "password": password})
    if status != 200:
        raise SystemExit(f"login of {mail}: {status} {text}")
    return as_json(text)


def invitation_token(server, address):
    mails = server.mails_to(address)
    for _, text in reversed(mails):
        if "token=" in text:
            return text.split("token=", 1)[1].split()[0]
    return None


def new_patient(server, admin, mail, name="Probe Patient"):
    status, text, _ = request(
        server, "POST", "/api/v1/patients", {"name": name, "email": mail, "time_zone": "Europe/Madrid"}, admin
    )
    if status != 201:
        raise SystemExit(f"create patient: {status} {text}")
    return as_json(text)["id"]


def accept(server, token, password=STRONG):
    return request(server, "POST", "/api/v1/auth/accept-invitation", {"token": token, "password": password})


def png(width, height, bit_depth=8, seed=0):
    """An RGB PNG: a flat colour with a few noisy rows, so it compresses but is a real image."""
    bpp = 3 * bit_depth // 8
    rnd = random.Random(seed)
    comp = zlib.compressobj(6)
    chunks = []
    flat = b"\x00" + bytes([180, 120, 110] * (width * bpp // 3))
    for y in range(height):
        if y % 97 == 0:
            row = b"\x00" + bytes(rnd.getrandbits(8) for _ in range(width * bpp))
        else:
            row = flat
        chunks.append(comp.compress(row))
    chunks.append(comp.flush())
    idat = b"".join(chunks)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def multipart(metadata, image, boundary="probeboundary7d3", close=True):
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
        f"Content-Type: application/json\r\n\r\n{json.dumps(metadata)}\r\n".encode(),
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n"
        f"Content-Type: image/png\r\n\r\n".encode()
        + image
        + b"\r\n",
    ]
    if close:
        parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(server, token, path, metadata, image):
    body, ctype = multipart(metadata, image)
    return request(server, "POST", path, body, token, {"Content-Type": ctype}, timeout=300)


# --- the checks -----------------------------------------------------------------------------


def probe_idempotency(s, admin, patient):
    key = "probe-feed-" + str(random.random())
    st, text, _ = request(s, "POST", "/api/v1/me/calendar-feed", None, patient, {"Idempotency-Key": key}, "bearer")
    feed = as_json(text).get("url", "")
    check("calendar feed made with a lower-case `bearer`", st == 201 and feed, f"{st}")
    st2, text2, _ = request(s, "POST", "/api/v1/me/calendar-feed", None, None, {"Idempotency-Key": key})
    check("anonymous replay of the patient's key shows no feed URL", feed and feed not in text2 and st2 in (401, 409), f"{st2}")
    st3, text3, _ = request(s, "POST", "/api/v1/me/calendar-feed", None, patient, {"Idempotency-Key": key})
    check("the owner's replay shows no feed URL in clear", feed and feed not in text3 and st3 != 500, f"{st3}")

    key = "probe-hook-" + str(random.random())
    hook = {"url": "https://hooks.probe.invalid/aftercare", "events": ["alert.created"], "active": False}
    st, text, _ = request(s, "POST", "/api/v1/webhooks", hook, admin, {"Idempotency-Key": key}, "bearer")
    secret = as_json(text).get("secret", "")
    check("webhook made with a lower-case `bearer`", st == 201 and secret.startswith("whsec_"), f"{st} {text[:200]}")
    st2, text2, _ = request(s, "POST", "/api/v1/webhooks", hook, None, {"Idempotency-Key": key})
    check("anonymous replay of the admin's key shows no webhook secret", "whsec_" not in text2 and st2 in (401, 409), f"{st2}")
    st3, text3, _ = request(s, "POST", "/api/v1/webhooks", hook, admin, {"Idempotency-Key": key})
    check("the admin's replay shows no webhook secret", "whsec_" not in text3 and st3 != 500, f"{st3}")

    key = "probe-anon-" + str(random.random())
    body = {"email": "nobody@probe.example", "password": "wrong-password-123"}
    a = request(s, "POST", "/api/v1/auth/login", body, None, {"Idempotency-Key": key})
    b = request(s, "POST", "/api/v1/unsubscribe?token=x", b"", None, {"Idempotency-Key": key})
    check("anonymous requests are never replayed", "idempotency-replayed" not in a[2] and "idempotency-replayed" not in b[2])


def probe_uploads(s, patient):
    before = s.fds()
    body, ctype = multipart({"view": "frontal", "time_point": "baseline"}, png(64, 64), close=False)
    started = time.monotonic()
    answers = []

    def truncated(_):
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=90)
        head = (
            f"POST /api/v1/me/photos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {patient}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head + body)
        try:
            data = sock.recv(200)
        except OSError:
            data = b""
        answers.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
        sock.close()

    threads = [threading.Thread(target=truncated, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    took = time.monotonic() - started
    statuses = sorted(set(a.split(" ")[1] if " " in a else "none" for a in answers))
    check("20 uploads without the closing boundary each get an answer", len(answers) == 20 and "none" not in statuses and all(x.startswith("4") for x in statuses), f"{statuses} in {took:.1f} s")
    time.sleep(2)
    after = s.fds()
    check("and leave the server's descriptors where they were", after <= before + 2, f"{before} → {after}")

    sock = socket.create_connection(("127.0.0.1", s.port), timeout=120)
    head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    sock.sendall(head.encode() + b'{"email":')
    started = time.monotonic()
    try:
        data = sock.recv(200)
    except OSError:
        data = b""
    waited = time.monotonic() - started
    sock.close()
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    check("a body announced as 100 bytes and sent as 9 is answered 408 or 400 in bounded time", (" 408 " in line or " 400 " in line) and waited < 40, f"{line!r} after {waited:.1f} s")


def probe_ssrf(s, admin):
    targets = [
        "http://127.0.0.1/h", "http://127.1/h", "http://2130706433/h", "http://0x7f000001/h", "http://[::1]/h",
        "http://[::ffff:127.0.0.1]/h", "http://10.0.0.1/h", "http://172.16.0.1/h", "http://192.168.1.1/h",
        "http://169.254.169.254/latest/meta-data", "http://[fc00::1]/h", "http://0.0.0.0/h", "http://localhost:5432/h",
        "http://[fe80::1]/h", "http://224.0.0.1/h",
    ]
    made = []
    for url in targets:
        st, text, _ = request(s, "POST", "/api/v1/webhooks", {"url": url, "events": ["alert.created"]}, admin)
        if st != 422:
            made.append(f"{url} → {st}")
    check(f"webhook creation refuses {len(targets)} internal targets", not made, "; ".join(made))
    st, text, _ = request(s, "POST", "/api/v1/webhooks", {"url": "https://hooks.probe.invalid/ok", "events": ["alert.created"], "active": False}, admin)
    hid = as_json(text).get("id")
    patched = []
    for url in targets:
        st, _, _ = request(s, "PATCH", f"/api/v1/webhooks/{hid}", {"url": url}, admin)
        if st != 422:
            patched.append(f"{url} → {st}")
    check("webhook update refuses the same targets", hid and not patched, "; ".join(patched))


def probe_invitations(s, admin):
    pid = new_patient(s, admin, "moving@probe.example", "Moving Patient")
    old = invitation_token(s, "moving@probe.example")
    st, text, _ = request(s, "PATCH", f"/api/v1/patients/{pid}", {"email": "moved@probe.example"}, admin)
    check("a patient's email can be changed", st == 200, f"{st} {text[:200]}")
    st, _, _ = accept(s, old)
    check("the invitation to the old address no longer opens an account", st in (404, 409, 410, 422), f"{st}")
    st, text, _ = request(s, "GET", "/api/v1/invitations", None, admin)
    check("invitations are listed", st == 200 and "items" in as_json(text), f"{st}")
    st, text, _ = request(s, "POST", "/api/v1/staff/invitations", {"email": "revoked@probe.example", "role": "clinician"}, admin)
    iid = as_json(text).get("id")
    token = invitation_token(s, "revoked@probe.example")
    st_del, _, _ = request(s, "DELETE", f"/api/v1/invitations/{iid}", None, admin)
    st_acc, _, _ = accept(s, token)
    check("a revoked invitation cannot be accepted", st_del == 204 and st_acc in (404, 409, 410, 422), f"delete {st_del}, accept {st_acc}")


def probe_sessions(s, admin, sqlite_path):
    pid = new_patient(s, admin, "erased@probe.example", "Erased Patient")
    st, text, _ = accept(s, invitation_token(s, "erased@probe.example"))
    tokens = as_json(text)
    patient = tokens.get("access_token")
    account = as_json(request(s, "GET", "/api/v1/me", None, patient)[1]).get("id", pid)
    st, _, _ = request(s, "PATCH", "/api/v1/me/profile", {"language": "es"}, patient, {"Idempotency-Key": "probe-erase"})
    request(s, "POST", "/api/v1/me/calendar-feed", None, patient, {"Idempotency-Key": "probe-erase-2"})
    st, text, _ = request(s, "DELETE", f"/api/v1/patients/{pid}", {"confirm_patient_id": pid}, admin, {"Idempotency-Key": "probe-erase-3"})
    check("erasure runs", st == 200, f"{st} {text[:200]}")
    st, _, _ = request(s, "GET", "/api/v1/me", None, patient)
    check("the erased patient's access token stops at once", st == 401, f"{st}")
    query = "SELECT count(*) FROM idempotency_keys WHERE response_body LIKE '%{0}%' OR scope LIKE '%{1}%'"
    if sqlite_path:
        db = sqlite3.connect(sqlite_path)
        rows = db.execute(query.format(pid, account)).fetchone()[0]
        db.close()
    else:
        out = subprocess.run(
            ["psql", s.env["DATABASE_URL"], "-qtAc", query.format(pid, account)], capture_output=True, text=True
        )
        rows = int(out.stdout.strip() or "-1")
    check("no stored idempotency response mentions the erased patient", rows == 0, f"{rows} rows")

    mail = "leaving@probe.example"
    new_patient(s, admin, mail, "Leaving Patient")
    accept(s, invitation_token(s, mail))
    first, second = login(s, mail), login(s, mail)
    st = request(s, "POST", "/api/v1/auth/logout", {"refresh_token": first["refresh_token"]})[0]
    a = request(s, "GET", "/api/v1/me", None, first["access_token"])[0]
    b = request(s, "GET", "/api/v1/me", None, second["access_token"])[0]
    check("logout ends that login's access token at once", st == 204 and a == 401, f"logout {st}, token {a}")
    check("another device's login keeps working", b == 200, f"{b}")


def probe_passwords(s, admin):
    # "{email}" stands for the invitee's own address; "{name}" for their name.
    weak = ["password1", "passwordpassword", "{email}", "Probe Clinic A 2026", "qwertyuiop123", "{name} 2026"]
    refused = []
    for i, pw in enumerate(weak):
        mail, name = f"weak{i}@probe.example", f"Wilhelmina Fairweather{i}"
        new_patient(s, admin, mail, name)
        st, text, _ = accept(s, invitation_token(s, mail), pw.format(email=mail, name=name))
        fields = [e.get("field") for e in as_json(text).get("errors", [])]
        refused.append(st == 422 and "password" in fields)
    check("weak and guessable passwords are refused with a 422 naming the password", all(refused), f"{refused}")


def probe_nul(s, admin, patient):
    bad = []
    for method, path, body, token in [
        ("POST", "/api/v1/patients", {"name": "a\u0000b", "time_zone": "Europe/Madrid"}, admin),
        ("PATCH", "/api/v1/clinic", {"name": "x\u0000"}, admin),
        ("POST", "/api/v1/me/checkins", {"redness": 1, "swelling": 0, "pain": 0, "itch": 0, "note": "ok\u0000"}, patient),
        ("PATCH", "/api/v1/me/profile", {"phone": "+34\u0000600"}, patient),
        ("GET", "/api/v1/patients/%00", None, admin),
        ("GET", "/api/v1/patients/abc%00def/reminders", None, admin),
        ("GET", "/api/v1/patients?q=%00", None, admin),
        ("GET", "/api/v1/patients?q=a%00b&limit=5", None, admin),
        ("GET", "/api/v1/courses/%00", None, admin),
        ("GET", "/api/v1/photos/%00/image", None, patient),
        ("POST", "/api/v1/auth/login", {"email": "a\u0000@x.example", "password": "x\u0000yyyyyyyyyy"}, None),
        ("GET", "/api/v1/unsubscribe?token=%00", None, None),
    ]:
        st, text, _ = request(s, method, path, body, token)
        if st >= 500:
            bad.append(f"{method} {path} → {st}")
    check("NUL bytes in bodies, path ids and queries never answer 5xx", not bad, "; ".join(bad))


def probe_photo_views(s, admin, patient, pid):
    request(s, "POST", f"/api/v1/patients/{pid}/consents", {"kind": "photos", "granted": True}, admin)
    doc = as_json(request(s, "GET", "/openapi.json")[1])
    meta = doc.get("components", {}).get("schemas", {}).get("PhotoMetadata", {})
    view_schema = meta.get("properties", {}).get("view", {})
    if "$ref" in view_schema:
        view_schema = doc["components"]["schemas"][view_schema["$ref"].rsplit("/", 1)[1]]
    views = view_schema.get("enum") or ["frontal", "left45", "right45", "left_lateral", "right_lateral", "other"]
    failed = []
    for i, view in enumerate(views):
        st, text, _ = upload(s, patient, "/api/v1/me/photos", {"view": view, "time_point": "baseline"}, png(80, 60, seed=i))
        if st not in (200, 201):
            failed.append(f"{view} → {st}")
    check(f"a photo uploads in every view ({', '.join(views)})", not failed, "; ".join(failed))


def probe_big_decode(s, patient, concurrent):
    image = png(7000, 7000, 16, seed=7)
    before = s.status("VmHWM")
    answers = []

    def send(i):
        st, _, _ = upload(s, patient, "/api/v1/me/photos", {"view": "frontal", "time_point": "baseline"}, image)
        answers.append(st)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(concurrent + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    peak = s.status("VmHWM")
    check(
        f"{concurrent + 1} concurrent 49-megapixel 16-bit PNGs keep the peak under 250 MiB",
        peak < 250 * 1024 and all(a < 500 for a in answers),
        f"VmHWM {before // 1024} → {peak // 1024} MiB, answers {sorted(answers)}, {len(image) // 1024} KiB each",
    )


def probe_headers(s, patient):
    checks = []
    for path, token in [("/api/v1/me", patient), ("/healthz", None), ("/api/v1/nope", None), ("/openapi.json", None)]:
        _, _, h = request(s, "GET", path, None, token)
        checks.append(h.get("x-content-type-options") == "nosniff")
    check("X-Content-Type-Options: nosniff on every response", all(checks), f"{checks}")
    _, _, h = request(s, "GET", "/api/v1/me", None, patient)
    _, _, h2 = request(s, "GET", "/api/v1/me/calendar.ics", None, patient)
    check("Cache-Control: no-store on patient data", "no-store" in h.get("cache-control", "") and "no-store" in h2.get("cache-control", ""), f"{h.get('cache-control')} / {h2.get('cache-control')}")
    html = []
    for path in ["/docs/", "/api/v1/unsubscribe?token=probe"]:
        _, _, h = request(s, "GET", path)
        if h.get("content-type", "").startswith("text/html"):
            html.append("frame-ancestors 'none'" in h.get("content-security-policy", ""))
    check("HTML pages carry a CSP with frame-ancestors 'none'", html and all(html), f"{html}")


def probe_enumeration(s, admin_b, other_mail, patient_mail):
    st, text, _ = request(s, "POST", "/api/v1/staff/invitations", {"email": other_mail, "role": "clinician"}, admin_b)
    st2, text2, _ = request(
        s, "POST", "/api/v1/patients", {"name": "Someone", "email": patient_mail, "time_zone": "Europe/Madrid"}, admin_b
    )
    fresh, _, _ = request(s, "POST", "/api/v1/staff/invitations", {"email": "brand.new@probe.example", "role": "clinician"}, admin_b)
    check(
        "inviting another clinic's account answers like a new invitation",
        st == fresh == 201 and st2 == 201 and "account_exists" not in text + text2,
        f"staff {st}, patient {st2}, new {fresh}",
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--bin", default="target/debug/aftercare")
    ap.add_argument("--database-url", default=os.environ.get("PROBE_DATABASE_URL"))
    args = ap.parse_args()
    s = Server(os.path.abspath(args.bin), args.database_url)
    try:
        for clinic, mail in [("Probe Clinic A", "admin-a@probe.example"), ("Probe Clinic B", "admin-b@probe.example")]:
            r = s.cli("create-admin", "--clinic", clinic, "--email", mail, extra_env={"AFTERCARE_ADMIN_PASSWORD": STRONG})
            if r.returncode != 0:
                raise SystemExit(f"create-admin: {r.stderr}")
        s.start()
        admin = login(s, "admin-a@probe.example")["access_token"]
        admin_b = login(s, "admin-b@probe.example")["access_token"]
        pid = new_patient(s, admin, "patient@probe.example")
        st, text, _ = accept(s, invitation_token(s, "patient@probe.example"))
        patient = as_json(text).get("access_token")
        if not patient:
            raise SystemExit(f"accept: {st} {text}")
        sqlite_path = None if args.database_url else os.path.join(s.dir, "aftercare.db")
        backend = "PostgreSQL" if args.database_url else "SQLite"
        print(f"probe: {args.bin} on {backend}", flush=True)
        probe_headers(s, patient)
        probe_idempotency(s, admin, patient)
        probe_ssrf(s, admin)
        probe_invitations(s, admin)
        probe_sessions(s, admin, sqlite_path)
        probe_passwords(s, admin)
        probe_nul(s, admin, patient)
        probe_photo_views(s, admin, patient, pid)
        probe_enumeration(s, admin_b, "admin-a@probe.example", "patient@probe.example")
        probe_uploads(s, patient)
        probe_big_decode(s, patient, int(os.environ.get("PROBE_MAX_CONCURRENT", "2")))
        alive = request(s, "GET", "/healthz")[0] == 200
        check("the server is still healthy", alive)
    finally:
        s.stop()
    failed = RESULTS.count(False)
    print(f"probe: {RESULTS.count(True)} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
