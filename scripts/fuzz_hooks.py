"""Schemathesis hooks for scripts/schemathesis.sh.

A client sends a fresh Idempotency-Key with each new request (the same key with a different body is
refused with 422, as documented). Generated cases draw keys from a small space, so most POSTs reused
a key from an earlier case and never reached the endpoint. Each valid key is made unique here,
before every call of every phase; invalid keys are left as drawn, so their refusal is still tested.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if key is not None and VALID_KEY.match(key):
        headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
