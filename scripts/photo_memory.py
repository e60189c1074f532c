#!/usr/bin/env python3
"""Peak memory of the server while it processes the largest photos it accepts.

Starts the built server (debug unless --bin says otherwise) on a fresh SQLite data dir, makes a
clinic, a patient with photo consent, and then, for each image below, restarts the server and
uploads AFTERCARE__PHOTOS__MAX_CONCURRENT copies of it at once; it prints each answer and the
server's peak resident memory (VmHWM from /proc/<pid>/status) before and after.

Images (made here, standard library only):
  issue     the 49-megapixel 16-bit RGB PNG of issue 23 (7000 x 7000)
  largest   the largest 16-bit RGB PNG the decode budget accepts ((max_decode_bytes - 1 MiB) / 3
            pixels, 4:3; the budget counts the upload too)
  jpeg      the largest baseline JPEG accepted: the server's own JPEG of `largest` (uploaded once
            during set-up and downloaded), each copy made unique by a comment segment
  padded    the largest JPEG accepted at the largest upload size: (max_decode_bytes -
            max_upload_bytes) / 3 pixels, padded with comment segments to max_upload_bytes - 64 KiB

Usage: scripts/photo_memory.py [--bin target/debug/aftercare] [--only issue,largest,jpeg]
Settings come from the environment as for the server (AFTERCARE__PHOTOS__MAX_DECODE_BYTES, ...).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib

PASSWORD = "quiet-lantern-harbour-memory-29"


def png16(width, height, seed):
    """An RGB PNG with 16 bits per sample: a reddish field, its first row varied by `seed`."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    pixel = struct.pack(">HHH", 52000, 30000, 28000)
    row = b"\x00" + pixel * width
    first = b"\x00" + struct.pack(">HHH", seed & 0xFFFF, 30000, 28000) * width
    z = zlib.compressobj(6)
    parts = [z.compress(first)]
    for _ in range(height - 1):
        parts.append(z.compress(row))
    parts.append(z.flush())
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def with_comment(jpeg_bytes, seed):
    """The same JPEG with a comment segment after SOI (other bytes, same pixels)."""
    text = f"copy {seed}".encode()
    return jpeg_bytes[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + jpeg_bytes[2:]


def padded(jpeg_bytes, seed, size):
    """The JPEG grown to about `size` bytes with comment segments (which decoders skip)."""
    out = with_comment(jpeg_bytes, seed)
    segment = b"\xff\xfe" + struct.pack(">H", 65535) + b"p" * 65533
    count = max(0, (size - len(out)) // len(segment))
    return out[:2] + segment * count + out[2:]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def call(method, url, body=None, token=None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=600) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    def __init__(self, binary, env, port, log):
        self.binary, self.env, self.port, self.log = binary, env, port, log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.log, stderr=self.log)
        for _ in range(300):
            try:
                if call("GET", f"http://127.0.0.1:{self.port}/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server did not become ready")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


def multipart(image, meta):
    boundary = uuid.uuid4().hex
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
        f"Content-Type: application/json\r\n\r\n{json.dumps(meta)}\r\n".encode(),
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n".encode(),
        image,
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    ap.add_argument("--bin", default=os.path.join(target, "debug", "aftercare"))
    ap.add_argument("--only", default="issue,largest,jpeg,padded")
    args = ap.parse_args()
    concurrent = int(os.environ.get("AFTERCARE__PHOTOS__MAX_CONCURRENT", "2"))
    budget = int(os.environ.get("AFTERCARE__PHOTOS__MAX_DECODE_BYTES", str(64 * 1024 * 1024)))
    max_pixels = int(os.environ.get("AFTERCARE__PHOTOS__MAX_PIXELS", "50000000"))
    max_upload = int(os.environ.get("AFTERCARE__PHOTOS__MAX_UPLOAD_BYTES", str(15 * 1024 * 1024)))

    work = tempfile.mkdtemp(prefix="aftercare-memory-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({
        "AFTERCARE__DATA_DIR": os.path.join(work, "data"),
        "AFTERCARE__SERVER__BIND": f"127.0.0.1:{port}",
        "AFTERCARE__LOG__LEVEL": "warn",
        "AFTERCARE__DISPATCH__ENABLED": "false",
        "AFTERCARE_ADMIN_PASSWORD": PASSWORD,
    })
    api = f"http://127.0.0.1:{port}/api/v1"
    log = open(os.path.join(work, "server.log"), "wb")
    server = Server(args.bin, env, port, log)
    try:
        subprocess.run([args.bin, "create-admin", "--clinic", "Memory", "--email", "admin@memory.example"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        server.start()
        token = json.loads(call("POST", f"{api}/auth/login",
                                {"email": "admin@memory.example", "password": PASSWORD})[1])["access_token"]
        patient = {"name": "Memory Patient", "email": "patient@memory.example", "time_zone": "Europe/London"}
        pid = json.loads(call("POST", f"{api}/patients", patient, token)[1])["id"]
        call("POST", f"{api}/patients/{pid}/consents", {"kind": "photos", "granted": True}, token)
        def dims(pixels):
            pixels = min(pixels, max_pixels)
            height = int((pixels * 3 / 4) ** 0.5)
            return pixels // height, height

        def server_jpeg(size, seed):
            """The server's own (baseline) JPEG of a PNG of `size`, or None if it refused it."""
            body, ctype = multipart(png16(*size, seed), {"view": "other", "time_point": "baseline"})
            status, text = call("POST", f"{api}/patients/{pid}/photos", body, token, ctype)
            if status != 201:
                return None
            return call("GET", f"http://127.0.0.1:{port}{json.loads(text)['image_url']}", None, token)[1]

        width, height = dims((budget - (1 << 20)) // 3)
        pw, ph = dims((budget - max_upload) // 3)
        base_jpeg = server_jpeg((width, height), 10_000) if "jpeg" in args.only else None
        padded_base = server_jpeg((pw, ph), 10_001) if "padded" in args.only else None
        server.stop()
        makers = {
            "issue": ("49 MP 16-bit RGB PNG (7000x7000)", lambda s: png16(7000, 7000, s)),
            "largest": (f"largest accepted 16-bit RGB PNG ({width}x{height})", lambda s: png16(width, height, s)),
            "jpeg": (f"largest accepted baseline JPEG ({width}x{height})", lambda s: with_comment(base_jpeg, s)),
            "padded": (
                f"largest accepted baseline JPEG at the upload limit ({pw}x{ph}, padded)",
                lambda s: padded(padded_base, s, max_upload - 64 * 1024),
            ),
        }
        print(f"max_concurrent={concurrent} max_decode_bytes={budget} ({budget >> 20} MiB) max_pixels={max_pixels}")
        for name in args.only.split(","):
            if {"jpeg": base_jpeg, "padded": padded_base}.get(name, b"") is None:
                print(f"{name}: skipped (the set-up upload of its PNG was refused)")
                continue
            label, make = makers[name]
            images = [make(i + 1) for i in range(concurrent)]
            server.start()
            token = json.loads(call("POST", f"{api}/auth/login",
                                    {"email": "admin@memory.example", "password": PASSWORD})[1])["access_token"]
            idle = status_kib(server.proc.pid, "VmHWM")
            results = [None] * concurrent

            def send(i):
                body, ctype = multipart(images[i], {"view": "frontal", "time_point": "baseline"})
                t = time.monotonic()
                status, text = call("POST", f"{api}/patients/{pid}/photos", body, token, ctype)
                code = "" if status < 300 else json.loads(text).get("code", "")
                results[i] = (status, code, time.monotonic() - t)

            threads = [threading.Thread(target=send, args=(i,)) for i in range(concurrent)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            peak = status_kib(server.proc.pid, "VmHWM")
            server.stop()
            sizes = "/".join(f"{len(i) / 1e6:.1f}" for i in images)
            answers = ", ".join(f"{s} {c}".strip() + f" in {d:.1f} s" for s, c, d in results)
            print(f"{label}, {sizes} MB, x{concurrent} at once: {answers}")
            print(f"    VmHWM: {idle / 1024:.0f} MiB after start and login, {peak / 1024:.0f} MiB peak")
    finally:
        server.stop()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
