#!/usr/bin/env python3
"""Browser check of the pages behind emailed links (issue 25), with Playwright and axe-core.

Starts the given binary on a fresh SQLite directory, creates a clinic and a patient, and walks
what a patient does in a real browser (Chromium, Content Security Policy enforced): the
invitation email's link (read from the `.eml` the server writes) -> set a password -> the API
logs in with it -> ask for a reset link -> the reset email's link -> a new password -> the API
logs in with that one only -> the unsubscribe page -> done -> turn the emails back on (the
consent flips each time). Also a bad link, a Spanish page and the staff alert page.

Each page is checked: HTML `lang`, the stylesheet applied under the CSP (no violation
reported), no horizontal scrolling at 320 CSS pixels (1280 at 400 % zoom), and axe-core finds
no serious or critical violation (axe is injected into a copy of the page's HTML in a context
that bypasses the CSP; the page itself runs without scripts). Screenshots go to --screenshots.
It prints one line a check and, last, `browser: N passed, M failed`; exit status 1 on failure.

    python3 scripts/browser_pages.py [--bin target/debug/aftercare] [--screenshots DIR]
        [--chromium /usr/bin/chromium] [--axe path/to/axe.min.js]

Needs `pip install playwright` (no `playwright install`: the system Chromium is used) and
axe-core (`npm install axe-core`; without --axe it is installed into a temporary directory).
"""

import argparse
import base64
import email
import email.policy
import glob
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ADMIN_PASSWORD = "violet-harbour-29-quietly-lantern"
FIRST_PASSWORD = "copper kettle marching seventy owls"
NEW_PASSWORD = "seven lanterns drift over amber fields"
JWT_SECRET = "browser-check-secret-browser-check-secret"
RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""), flush=True)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="aftercare-browser-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE") and k not in ("DATABASE_URL", "RUST_LOG")}
        self.env.update(
            {
                "AFTERCARE__DATA_DIR": self.dir,
                "AFTERCARE__SERVER__BIND": f"127.0.0.1:{self.port}",
                "AFTERCARE__SERVER__PUBLIC_URL": self.url,
                "AFTERCARE__AUTH__JWT_SECRET": JWT_SECRET,
                "AFTERCARE__AUTH__LOGIN_PER_IP_PER_MINUTE": "1000",
                "AFTERCARE__LOG__LEVEL": "warn",
            }
        )
        self.proc = None

    def cli(self, *args, extra_env=None):
        env = dict(self.env, **(extra_env or {}))
        return subprocess.run([self.binary, *args], env=env, capture_output=True, text=True, timeout=120)

    def start(self):
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: see {self.dir}/server.log")
            time.sleep(0.1)
        raise SystemExit("server did not become healthy in 60 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, token=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=data, headers=headers)
        res = conn.getresponse()
        raw = res.read().decode("utf-8", "replace")
        conn.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = {}
        return res.status, parsed

    def link_in_mail(self, address, marker, wait=15.0):
        """The first URL containing `marker` in the newest email to `address` (waits for it)."""
        deadline = time.time() + wait
        while time.time() < deadline:
            paths = sorted(glob.glob(os.path.join(self.dir, "mail", "*.eml")), key=os.path.getmtime, reverse=True)
            for path in paths:
                with open(path, "rb") as f:
                    msg = email.message_from_binary_file(f, policy=email.policy.default)
                if address not in str(msg.get("To", "")):
                    continue
                body = msg.get_body(preferencelist=("plain",))
                text = body.get_content() if body else ""
                for url in re.findall(r"https?://\S+", text):
                    if marker in url:
                        return url
            time.sleep(0.2)
        return None


def unsubscribe_token(patient_id):
    """The signed token of a reminder email's unsubscribe link (`security::links`)."""
    key = hmac.new(JWT_SECRET.encode(), b"aftercare/unsubscribe/v1", hashlib.sha256).digest()
    sig = hmac.new(key, patient_id.encode(), hashlib.sha256).digest()
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    return f"{b64(patient_id.encode())}.{b64(sig)}"


def checkin_token(reminder_id, valid_secs=3600, action="checkin"):
    """The signed token of a reminder email's check-in (or serum) link (`security::links`): the
    action, the reminder and when the link stops working."""
    key = hmac.new(JWT_SECRET.encode(), b"aftercare/checkin-link/v1", hashlib.sha256).digest()
    payload = f"{action}.{reminder_id}.{int(time.time()) + valid_secs}".encode()
    sig = hmac.new(key, payload, hashlib.sha256).digest()
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    return f"{b64(payload)}.{b64(sig)}"


SCREENING = {k: False for k in (
    "active_acne_or_infection", "cold_sore_history", "keloid_tendency", "isotretinoin_last_6_months",
    "pregnant_or_breastfeeding", "blood_thinners_or_bleeding_disorder", "uncontrolled_diabetes", "immunosuppressed",
    "eczema_psoriasis_rosacea_in_area", "metal_or_lidocaine_allergy", "peel_last_30_days",
    "neuromodulator_last_3_months", "filler_last_12_months")}


def treated_checkin_reminder(server, admin, pid):
    """Records a session for the patient; the ids of its first check-in and serum reminders."""
    server.request("PATCH", "/api/v1/clinic", {"phone": "+44 20 7946 0958"}, admin)
    server.request("POST", f"/api/v1/patients/{pid}/screenings", {"answers": SCREENING}, admin)
    _, course = server.request("POST", f"/api/v1/patients/{pid}/courses", {"concerns": ["texture"], "planned_sessions": 3}, admin)
    performed = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    session = {"performed_at": performed, "device": {"kind": "pen", "model": "SkinPen", "cartridge_lot": "L1"},
               "areas": [{"area": "cheeks", "depth_mm": 1.0, "passes": 3}]}
    status, _ = server.request("POST", f"/api/v1/courses/{course['id']}/sessions", session, admin)
    if status != 201:
        return None
    _, listed = server.request("GET", f"/api/v1/patients/{pid}/reminders", token=admin)
    first = lambda action: next((r["id"] for r in listed.get("upcoming", []) if r.get("action") == action), None)  # noqa: E731
    return first("checkin"), first("log_serum")


def axe_source(path):
    if path:
        with open(path) as f:
            return f.read()
    tmp = tempfile.mkdtemp(prefix="aftercare-axe-")
    r = subprocess.run(["npm", "install", "--silent", "--prefix", tmp, "axe-core"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"npm install axe-core failed: {r.stderr}")
    with open(os.path.join(tmp, "node_modules", "axe-core", "axe.min.js")) as f:
        return f.read()


class Walk:
    def __init__(self, server, browser, axe, shots):
        self.server, self.axe, self.shots = server, axe, shots
        # The patient's browser: the page's own policy applies (no scripts, the served stylesheet).
        self.browser = browser
        self.csp_violations = []
        self.use_locale("en-GB")
        # Only for axe: the same HTML with the policy bypassed, so the injected script runs.
        self.axe_ctx = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
        self.axe_page = self.axe_ctx.new_page()
        self.n = 0

    def use_locale(self, locale):
        """A fresh browser context whose `Accept-Language` is `locale`'s."""
        self.ctx = self.browser.new_context(viewport={"width": 390, "height": 844}, locale=locale)
        self.page = self.ctx.new_page()
        self.page.on(
            "console",
            lambda m: self.csp_violations.append(m.text) if "Content Security Policy" in m.text else None,
        )

    def audit(self, name, lang="en", status=None, response=None):
        """Checks the page now shown and saves its screenshot."""
        page = self.page
        self.n += 1
        shot = os.path.join(self.shots, f"{self.n:02d}-{name}.png")
        page.screenshot(path=shot, full_page=True)
        if response is not None and status is not None:
            check(f"{name}: status {status}", response.status == status, f"got {response.status}")
        if response is not None:
            headers = response.all_headers()
            check(
                f"{name}: text/html under the pages' policy",
                headers.get("content-type", "").startswith("text/html")
                and "frame-ancestors 'none'" in headers.get("content-security-policy", ""),
                f"{headers.get('content-type')} / {headers.get('content-security-policy')}",
            )
        check(f"{name}: <html lang={lang}>", page.evaluate("document.documentElement.lang") == lang)
        styled = page.evaluate("getComputedStyle(document.querySelector('header.site')).backgroundColor")
        check(f"{name}: the stylesheet applies under the CSP", styled == "rgb(11, 85, 99)", styled)
        check(f"{name}: no CSP violation", not self.csp_violations, "; ".join(self.csp_violations))
        self.csp_violations.clear()
        # Reflow: at 320 CSS pixels (1280 px at 400 % zoom) nothing scrolls sideways.
        html = page.content()
        url = page.url
        self.page.set_viewport_size({"width": 320, "height": 640})
        wide = page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
        self.page.set_viewport_size({"width": 390, "height": 844})
        check(f"{name}: reflows at 320 px without sideways scrolling", not wide)
        # axe-core on the same HTML, at the page's origin so its stylesheet loads.
        origin = re.match(r"https?://[^/]+", url).group(0)
        self.axe_page.goto(origin + "/app/axe")
        self.axe_page.set_content(html, wait_until="load")
        self.axe_page.add_script_tag(content=self.axe)
        result = self.axe_page.evaluate(
            "async () => await axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"
        )
        bad = [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]
        detail = "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in bad)
        check(f"{name}: axe finds no serious or critical violation", not bad, detail or f"screenshot {shot}")
        return html

    def goto(self, url):
        return self.page.goto(url)

    def submit(self, button_text):
        with self.page.expect_navigation() as nav:
            self.page.get_by_role("button", name=button_text).click()
        return nav.value


def login_status(server, mail, password):
    return server.request("POST", "/api/v1/auth/login", {"email": mail, "password": password})[0]


def email_consent(server, admin, pid):
    _, body = server.request("GET", f"/api/v1/patients/{pid}/consents", token=admin)
    current = [c for c in body.get("current", []) if c.get("kind") == "email_reminders"]
    return bool(current and current[0].get("granted"))


def walk(server, w, admin, pid, patient_mail):
    # 1. The invitation email's link.
    link = server.link_in_mail(patient_mail, "/invite?token=")
    if not check("the invitation email links to /invite", link, link):
        return
    res = w.goto(link)
    html = w.audit("invite", status=200, response=res)
    check("the invitation page shows the password rule", "At least 10 characters" in html)
    w.page.get_by_label("New password").fill("password1")
    res = w.submit("Create my account")
    html = w.audit("invite-weak-password", status=422, response=res)
    check("a weak password is refused with the reason", "too short or too easy to guess" in html)
    w.page.get_by_label("New password").fill(FIRST_PASSWORD)
    res = w.submit("Create my account")
    html = w.audit("invite-done", status=200, response=res)
    check("the done page says to sign in in the app", "Open the Aftercare app" in html)
    check("the API logs in with the password set on the page", login_status(server, patient_mail, FIRST_PASSWORD) == 200)

    # 2. Password reset: ask for a link, then use it.
    res = w.goto(server.url + "/reset-password")
    w.audit("reset-request", status=200, response=res)
    w.page.get_by_label("Email address").fill(patient_mail)
    res = w.submit("Send me a link")
    html = w.audit("reset-sent", status=200, response=res)
    check("the reset request gets the neutral answer", "If an account uses this address" in html)
    link = server.link_in_mail(patient_mail, "/reset-password?token=")
    if not check("the reset email links to /reset-password", link, link):
        return
    res = w.goto(link)
    w.audit("reset-form", status=200, response=res)
    w.page.get_by_label("New password").fill(NEW_PASSWORD)
    res = w.submit("Save my new password")
    html = w.audit("reset-done", status=200, response=res)
    check("the reset done page says so", "Your password is changed" in html)
    check("the old password no longer logs in", login_status(server, patient_mail, FIRST_PASSWORD) == 401)
    check("the new password logs in", login_status(server, patient_mail, NEW_PASSWORD) == 200)
    res = w.goto(link)
    html = w.audit("reset-link-used", status=404, response=res)
    check("a used reset link is a friendly 404 page", "This link does not work" in html)

    # 3. Unsubscribe, then turn the emails back on.
    check("the patient consents to reminder emails", email_consent(server, admin, pid))
    res = w.goto(f"{server.url}/api/v1/unsubscribe?token={unsubscribe_token(pid)}")
    w.audit("unsubscribe", status=200, response=res)
    res = w.submit("Unsubscribe")
    html = w.audit("unsubscribed", status=200, response=res)
    check("the done page offers to turn the emails back on", "Turn reminder emails back on" in html)
    check("the consent is withdrawn", not email_consent(server, admin, pid))
    res = w.submit("Turn reminder emails back on")
    w.audit("resubscribed", status=200, response=res)
    check("the consent is granted again", email_consent(server, admin, pid))

    # 4. A check-in from a reminder email's link, without the app: an urgent answer.
    reminder, serum = treated_checkin_reminder(server, admin, pid)
    if check("the session planned a check-in reminder", reminder, reminder):
        res = w.goto(f"{server.url}/app/checkin?reminder={reminder}&token={checkin_token(reminder)}")
        html = w.audit("checkin", status=200, response=res)
        check("the check-in page describes redness in words", "Mild: pink, like a mild sunburn" in html)
        w.page.get_by_label("Mild: pink, like a mild sunburn").check()
        for name, value in (("swelling", "1"), ("itch", "0"), ("pain", "4")):
            w.page.locator(f'input[name="{name}"][value="{value}"]').check()
        w.page.get_by_label("Fever or chills").check()
        res = w.submit("Send to my clinic")
        html = w.audit("checkin-urgent", status=200, response=res)
        check("an urgent answer says to call the clinic, with its number", "Call your clinic now" in html and "+44 20 7946 0958" in html)
        _, checkins = server.request("GET", f"/api/v1/patients/{pid}/checkins", token=admin)
        listed = checkins.get("items") if isinstance(checkins, dict) else None
        check("the API lists the check-in", isinstance(listed, list) and len(listed) == 1 and listed[0]["redness"] == 2, checkins)
        _, alerts = server.request("GET", "/api/v1/alerts?status=open", token=admin)
        check("the clinic has an urgent alert", any(a.get("severity") == "urgent" for a in alerts.get("items", [])), alerts)

    if check("the session planned a serum reminder", serum, serum):
        res = w.goto(f"{server.url}/app/log_serum?reminder={serum}&token={checkin_token(serum, action='log_serum')}")
        w.audit("serum", status=200, response=res)
        res = w.submit("I applied it")
        html = w.audit("serum-done", status=200, response=res)
        check("the serum page says it is logged", "Logged" in html)
        _, logged = server.request("GET", f"/api/v1/patients/{pid}/serum-applications", token=admin)
        items = logged.get("items") if isinstance(logged, dict) else None
        check("the API lists the serum application", isinstance(items, list) and len(items) == 1, logged)

    # 5. Others: a bad link, Spanish, the staff alert link.
    res = w.goto(server.url + "/invite?token=not-a-token")
    w.audit("bad-link", status=404, response=res)
    w.use_locale("es-ES")
    res = w.goto(server.url + "/reset-password")
    html = w.audit("reset-request-es", lang="es", status=200, response=res)
    check("Accept-Language es gives the Spanish page", "Restablezca su contraseña" in html)
    w.use_locale("en-GB")
    res = w.goto(server.url + "/app/alerts/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
    w.audit("staff-alert", status=200, response=res)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--bin", default="target/debug/aftercare")
    ap.add_argument("--screenshots", default="/tmp/aftercare-screens")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--axe", default=None, help="axe.min.js (default: npm install axe-core into a temp dir)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    os.makedirs(args.screenshots, exist_ok=True)
    axe = axe_source(args.axe)
    server = Server(os.path.abspath(args.bin))
    try:
        r = server.cli(
            "create-admin", "--clinic", "Glow Skin Clinic", "--email", "admin@glow.example",
            extra_env={"AFTERCARE_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )
        if r.returncode != 0:
            raise SystemExit(f"create-admin: {r.stderr}")
        server.start()
        status, tokens = server.request("POST", "/api/v1/auth/login", {"email": "admin@glow.example", "password": ADMIN_PASSWORD})
        if status != 200:
            raise SystemExit(f"admin login: {status} {tokens}")
        admin = tokens["access_token"]
        patient_mail = "jane@patient.example"
        status, p = server.request(
            "POST", "/api/v1/patients", {"name": "Jane Doe", "email": patient_mail, "time_zone": "Europe/London"}, admin
        )
        if status != 201:
            raise SystemExit(f"create patient: {status} {p}")
        pid = p["id"]
        status, _ = server.request(
            "POST", f"/api/v1/patients/{pid}/consents", {"kind": "email_reminders", "granted": True}, admin
        )
        if status != 201:
            raise SystemExit(f"grant consent: {status}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
            try:
                walk(server, Walk(server, browser, axe, args.screenshots), admin, pid, patient_mail)
            finally:
                browser.close()
    finally:
        server.stop()
    passed, failed = sum(RESULTS), len(RESULTS) - sum(RESULTS)
    print(f"browser: {passed} passed, {failed} failed (screenshots in {args.screenshots})")
    sys.exit(1 if failed or not RESULTS else 0)


if __name__ == "__main__":
    main()
