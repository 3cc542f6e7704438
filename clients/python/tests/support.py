"""What the tests share: the live service's URL, unique names, and raw HTTP calls to compare with.

The tests run against a real service whose URL is in LATENTBRIDGE_TEST_URL (the repository's
test/clients/python.test.ts starts one and sets it); without it every test is skipped.
"""

from __future__ import annotations

import json
import os
import unittest
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, Optional, Tuple

from latentbridge import Client

URL_VARIABLE = "LATENTBRIDGE_TEST_URL"


def service_url() -> str:
    url = os.environ.get(URL_VARIABLE, "")
    if url == "":
        raise unittest.SkipTest(f"{URL_VARIABLE} is not set: these tests need a running latentbridge service")
    return url.rstrip("/")


def unique(prefix: str) -> str:
    """A name no other test (or run against the same store) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client() -> Client:
    return Client(service_url(), timeout=300)


def raw(method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    """One plain HTTP call (no client): status, lower-cased headers, body bytes."""
    data = None
    all_headers = dict(headers or {})
    if body is not None and not isinstance(body, bytes):
        data = json.dumps(body).encode("utf-8")
        all_headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, bytes):
        data = body
    request = urllib.request.Request(service_url() + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def raw_json(method: str, path: str, body: Any = None) -> Tuple[int, Any]:
    status, _, data = raw(method, path, body)
    return status, json.loads(data) if data else None


def route_exists(method: str, path: str) -> bool:
    """Whether the service has a route for this method and path (a 404 of kind no-route says not)."""
    status, body = raw_json(method, path, {} if method == "POST" else None)
    return not (status == 404 and isinstance(body, dict) and body.get("type") == "urn:latentbridge:problem:no-route")


def operations_supported() -> bool:
    return route_exists("GET", "/v1/operations/probe-" + uuid.uuid4().hex[:8])
