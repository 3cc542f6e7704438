"""The client against a live service: every call, each array form, chunking, problems, operations."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import unittest
import uuid
from typing import Any, List

import numpy as np

from latentbridge import Client, LimitError, Operation, ProblemError
from tests.support import client, operations_supported, raw, raw_json, route_exists, service_url, unique


def setUpModule() -> None:
    service_url()


def json_matrix(value: Any) -> np.ndarray:
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["data"]), dtype="<f4").reshape(value["shape"])
    return np.asarray(value, dtype=np.float32)


class Pair:
    """Two spaces, a set of `n` ids both hold, and a target that is a linear map of the source."""

    def __init__(self, lb: Client, n: int = 60, source_dim: int = 8, target_dim: int = 6, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.source = unique("src")
        self.target = unique("tgt")
        self.set = unique("set")
        self.ids = [f"item{i}" for i in range(n)]
        self.x = rng.standard_normal((n, source_dim)).astype(np.float32)
        self.w = rng.standard_normal((source_dim, target_dim)).astype(np.float32)
        self.y = (self.x @ self.w + 0.01 * rng.standard_normal((n, target_dim))).astype(np.float32)
        lb.create_space(self.source, source_dim)
        lb.create_space(self.target, target_dim)
        lb.create_anchor_set(self.set, self.ids)
        lb.upload_embeddings(self.set, self.source, self.x)
        lb.upload_embeddings(self.set, self.target, self.y)


class ClientTest(unittest.TestCase):
    lb: Client

    @classmethod
    def setUpClass(cls) -> None:
        cls.lb = client()

    def test_spaces_sets_and_embeddings_round_trip(self) -> None:
        lb = self.lb
        name = unique("space")
        created = lb.create_space(name, 3, description="three")
        self.assertEqual((created["name"], created["dim"]), (name, 3))
        self.assertEqual(lb.get_space(name)["description"], "three")
        self.assertIn(name, [s["name"] for s in lb.list_spaces()])
        set_name = unique("set")
        self.assertEqual(lb.create_anchor_set(set_name, ["a", "b", "c", "d"])["size"], 4)
        self.assertIn(set_name, [s["name"] for s in lb.list_anchor_sets()])
        x = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
        stored = lb.upload_embeddings(set_name, name, x)
        self.assertEqual((stored["rows"], stored["dim"]), (4, 3))
        ids, back = lb.download_embeddings(set_name, name)
        self.assertEqual(ids, ["a", "b", "c", "d"])
        np.testing.assert_array_equal(back, x)
        # With ids: a subset, in any order, sent as JSON; stored in the set's order.
        lb.upload_embeddings(set_name, name, x[[2, 0]], ids=["c", "a"])
        ids, back = lb.download_embeddings(set_name, name)
        self.assertEqual(ids, ["a", "c"])
        np.testing.assert_array_equal(back, x[[0, 2]])
        lb.delete_embeddings(set_name, name)
        lb.delete_anchor_set(set_name)
        lb.delete_space(name)
        with self.assertRaises(ProblemError) as caught:
            lb.get_space(name)
        self.assertEqual((caught.exception.status, caught.exception.kind), (404, "not-found"))

    def test_float16_32_64_in_float32_out(self) -> None:
        lb = self.lb
        name = unique("space")
        set_name = unique("set")
        lb.create_space(name, 5)
        lb.create_anchor_set(set_name, [f"i{k}" for k in range(4)])
        x64 = np.random.default_rng(1).standard_normal((4, 5))
        for array, expected in [(x64, x64.astype(np.float32)), (x64.astype(np.float16), x64.astype(np.float16).astype(np.float32)),
                                (x64.astype(np.float32), x64.astype(np.float32)), (np.arange(20).reshape(4, 5), np.arange(20, dtype=np.float32).reshape(4, 5))]:
            with self.subTest(dtype=str(array.dtype)):
                lb.upload_embeddings(set_name, name, array)
                _, back = lb.download_embeddings(set_name, name)
                self.assertEqual(back.dtype, np.float32)
                np.testing.assert_array_equal(back, expected)

    def test_translate_equals_the_json_api(self) -> None:
        lb = self.lb
        pair = Pair(lb)
        translator = lb.fit(pair.source, pair.target, pair.set, method="linear", holdout=0)
        self.assertEqual((translator["method"], translator["version"], translator["active"]), ("linear", 1, True))
        queries = np.random.default_rng(2).standard_normal((7, 8)).astype(np.float32)
        ours = lb.translate(pair.source, pair.target, queries)
        self.assertEqual((ours.shape, ours.dtype), ((7, 6), np.float32))
        status, answer = raw_json("POST", "/v1/translate", {"source": pair.source, "target": pair.target, "vectors": queries.tolist(),
                                                            "encodingFormat": "base64"})
        self.assertEqual(status, 200)
        np.testing.assert_array_equal(ours, json_matrix(answer["vectors"]))
        # float16 and float64 travel as .npy and give what their float32 values give.
        half = queries.astype(np.float16)
        np.testing.assert_array_equal(lb.translate(pair.source, pair.target, half),
                                      lb.translate(pair.source, pair.target, half.astype(np.float32)))
        np.testing.assert_array_equal(lb.translate(pair.source, pair.target, queries.astype(np.float64)), ours)
        # One vector in, one vector out; a named translator.
        one = lb.translate(pair.source, pair.target, queries[3], translator=translator)
        self.assertEqual(one.shape, (6,))
        np.testing.assert_allclose(one, ours[3], rtol=1e-5, atol=1e-6)

    def test_relative_equals_the_json_api(self) -> None:
        lb = self.lb
        pair = Pair(lb, n=20)
        queries = np.random.default_rng(3).standard_normal((5, 8)).astype(np.float32)
        ours = lb.relative(pair.source, pair.set, queries, projection=["cosine", "euclidean"], center=True, top_k=4)
        self.assertEqual(ours.shape, (5, 40))
        status, answer = raw_json("POST", "/v1/relative", {"space": pair.source, "anchorSet": pair.set, "vectors": queries.tolist(),
                                                           "projection": ["cosine", "euclidean"], "center": True, "topK": 4,
                                                           "encodingFormat": "base64"})
        self.assertEqual(status, 200)
        np.testing.assert_array_equal(ours, json_matrix(answer["vectors"]))

    def test_large_arrays_are_sent_in_chunks_under_the_limits(self) -> None:
        lb = self.lb
        pair = Pair(lb, n=30, source_dim=4, target_dim=3)
        lb.fit(pair.source, pair.target, pair.set, method="linear", holdout=0)
        limit = lb.info()["limits"]["MAX_ROWS_PER_REQUEST"]
        rows = 2 * limit + 3
        if rows * 4 * 4 > lb.info()["limits"]["BODY_LIMIT"] * 3:
            self.skipTest(f"MAX_ROWS_PER_REQUEST {limit} is too large to exceed cheaply in a test")
        queries = np.random.default_rng(4).standard_normal((rows, 4)).astype(np.float32)
        # One request with every row is refused: the limit binds.
        status, _, body = raw("POST", f"/v1/translate?source={pair.source}&target={pair.target}", queries.tobytes(),
                              {"Content-Type": "application/octet-stream", "X-Shape": f"{rows},4"})
        self.assertEqual(status, 422, body[:300])
        out = lb.translate(pair.source, pair.target, queries)
        self.assertEqual(out.shape, (rows, 3))
        # Each chunk's rows are where they belong: rows around the chunk boundaries, translated alone.
        for row in [0, limit - 1, limit, 2 * limit, rows - 1]:
            np.testing.assert_allclose(out[row], lb.translate(pair.source, pair.target, queries[row]), rtol=1e-5, atol=1e-6)
        rel = lb.relative(pair.source, pair.set, queries)
        self.assertEqual(rel.shape, (rows, 30))
        np.testing.assert_allclose(rel[rows - 1], lb.relative(pair.source, pair.set, queries[rows - 1]), rtol=1e-5, atol=1e-6)
        # An upload cannot be split (it replaces the space's rows): refused before sending.
        with self.assertRaises(LimitError):
            lb.upload_embeddings(pair.set, pair.source, queries)

    def test_problems_carry_status_type_title_detail(self) -> None:
        lb = self.lb
        pair = Pair(lb, n=10)
        with self.assertRaises(ProblemError) as caught:
            lb.upload_embeddings(pair.set, pair.source, np.ones((10, 7), dtype=np.float32))
        err = caught.exception
        self.assertEqual((err.status, err.type, err.kind), (422, "urn:latentbridge:problem:unprocessable", "unprocessable"))
        self.assertEqual(err.title, "Unprocessable content")
        self.assertIn("7", err.detail)
        with self.assertRaises(ProblemError) as caught:
            lb.translate(pair.source, pair.target, np.ones((1, 8)))
        self.assertEqual((caught.exception.status, caught.exception.kind), (404, "not-found"))
        with self.assertRaises(ProblemError) as caught:
            lb.delete_space(pair.source)
        self.assertEqual((caught.exception.status, caught.exception.kind), (409, "conflict"))
        lb.delete_space(pair.source, cascade=True)
        with self.assertRaises(ProblemError) as caught:
            lb.get_space(pair.source)
        self.assertEqual(caught.exception.status, 404)

    def test_versions_list_activate_export_delete(self) -> None:
        lb = self.lb
        pair = Pair(lb)
        first = lb.fit(pair.source, pair.target, pair.set, holdout=0)
        second = lb.fit(pair.source, pair.target, pair.set, method="linear", holdout=0, activate=True, name="second")
        self.assertEqual((second["version"], second["name"], second["active"]), (2, "second", True))
        listed = lb.list_translators(source=pair.source, target=pair.target)
        self.assertEqual(sorted(t["version"] for t in listed), [1, 2])
        self.assertTrue(lb.activate(first)["active"])
        self.assertFalse(lb.get_translator(second["id"])["active"])
        onnx = lb.export(first)
        status, _, direct = raw("GET", f"/v1/translators/{first['id']}/onnx")
        self.assertEqual(status, 200)
        self.assertEqual(onnx, direct)
        self.assertGreater(len(onnx), 100)
        lb.delete_translator(second)
        with self.assertRaises(ProblemError) as caught:
            lb.get_translator(second["id"])
        self.assertEqual(caught.exception.kind, "not-found")

    def test_evaluate_equals_the_json_api(self) -> None:
        lb = self.lb
        pair = Pair(lb)
        translator = lb.fit(pair.source, pair.target, pair.set, holdout=0)
        ours = lb.evaluate(translator, pair.x[:20], pair.y[:20], k=3, retrieval="csls", csls_k=5)
        status, theirs = raw_json("POST", f"/v1/translators/{translator['id']}/evaluate",
                                  {"vectors": pair.x[:20].tolist(), "targetVectors": pair.y[:20].tolist(), "k": 3,
                                   "retrieval": "csls", "cslsK": 5})
        self.assertEqual(status, 200)
        self.assertEqual(ours["count"], 20)
        self.assertEqual((ours["retrieval"], ours["cslsK"]), ("csls", 5))
        for key in ["top1", "topK", "mrr"]:
            self.assertEqual(ours[key], theirs[key], key)
        self.assertAlmostEqual(ours["meanCosine"], theirs["meanCosine"], places=6)
        with self.assertRaises(ValueError):
            lb.evaluate(translator, pair.x[:5], pair.y[:4])

    def test_report(self) -> None:
        lb = self.lb
        pair = Pair(lb)
        translator = lb.fit(pair.source, pair.target, pair.set, holdout=0)
        if not route_exists("POST", f"/v1/translators/{translator['id']}/report"):
            self.skipTest("the service has no POST /v1/translators/{id}/report yet")
        report = lb.report(translator, pair.x[:30], pair.y[:30])
        self.assertIsInstance(report, dict)
        page = lb.report(translator, pair.x[:30], pair.y[:30], html=True)
        self.assertIsInstance(page, str)
        self.assertIn("<svg", page)

    def test_fit_waits_for_an_operation_with_progress(self) -> None:
        """Asks for an operation (Prefer: respond-async); a service that answers at once (201) is fine too."""
        lb = self.lb
        pair = Pair(lb, n=200, source_dim=16, target_dim=12)
        seen: List[Operation] = []
        translator = lb.fit(pair.source, pair.target, pair.set, method="auto", folds=3, progress=lambda op: seen.append(op))
        self.assertEqual(lb.get_translator(translator["id"])["id"], translator["id"])
        self.assertGreaterEqual(len(seen), 1)
        self.assertEqual(seen[-1].status, "succeeded")
        if operations_supported():
            self.assertIsNotNone(seen[0].id, "a fit with Prefer: respond-async is an operation")
            fractions = [op.progress["fraction"] for op in seen if op.progress is not None]
            self.assertEqual(fractions, sorted(fractions), "progress never goes backwards")
        operation = lb.fit(pair.source, pair.target, pair.set, wait=False, holdout=0)
        self.assertIsInstance(operation, Operation)
        result = operation.wait()
        self.assertEqual(result["version"], 2)
        if operation.id is not None:
            self.assertEqual(lb.get_operation(operation.id).status, "succeeded")
            self.assertEqual(lb.get_operation(operation.id).result["id"], result["id"])

    def test_idempotency_key_never_stores_a_second_translator(self) -> None:
        lb = self.lb
        if not operations_supported():
            self.skipTest("the service has no /v1/operations yet: Idempotency-Key is sent but not honoured")
        pair = Pair(lb)
        key = str(uuid.uuid4())
        first = lb.fit(pair.source, pair.target, pair.set, holdout=0, idempotency_key=key)
        again = lb.fit(pair.source, pair.target, pair.set, holdout=0, idempotency_key=key)
        self.assertEqual(first["id"], again["id"])
        self.assertEqual(len(lb.list_translators(source=pair.source, target=pair.target)), 1)


class RetryTest(unittest.TestCase):
    """Retry-After handling, against a local HTTP server that answers 503 (or 429) before it answers."""

    def serve(self, answers: List[tuple]) -> str:
        hits: List[str] = []
        self.hits = hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                status, headers, body = answers[min(len(hits), len(answers)) - 1]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def problem(self, status: int, kind: str, retry_after: str) -> tuple:
        body = json.dumps({"type": f"urn:latentbridge:problem:{kind}", "title": kind, "status": status, "detail": "later"}).encode()
        return (status, {"Content-Type": "application/problem+json", "Retry-After": retry_after}, body)

    def test_429_and_503_are_retried_after_retry_after(self) -> None:
        ok = (200, {"Content-Type": "application/json"}, b'{"spaces": [], "next": null}')
        url = self.serve([self.problem(503, "overloaded", "0"), self.problem(429, "queue-full", "0"), ok])
        self.assertEqual(Client(url).list_spaces(), [])
        self.assertEqual(len(self.hits), 3)

    def test_a_retry_after_over_the_limit_is_raised_at_once(self) -> None:
        url = self.serve([self.problem(503, "unavailable", "120")])
        with self.assertRaises(ProblemError) as caught:
            Client(url, max_retry_wait=5).list_spaces()
        self.assertEqual((caught.exception.status, caught.exception.kind, caught.exception.retry_after), (503, "unavailable", 120))
        self.assertEqual(len(self.hits), 1)

    def test_retries_stop_after_max_retries(self) -> None:
        url = self.serve([self.problem(429, "queue-full", "0")])
        with self.assertRaises(ProblemError) as caught:
            Client(url, max_retries=2).list_spaces()
        self.assertEqual(caught.exception.status, 429)
        self.assertEqual(len(self.hits), 3)

    def test_a_non_problem_error_is_raised_with_its_status(self) -> None:
        url = self.serve([(502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>")])
        with self.assertRaises(ProblemError) as caught:
            Client(url).list_spaces()
        self.assertEqual((caught.exception.status, caught.exception.type), (502, "about:blank"))
        self.assertIn("bad gateway", caught.exception.detail)
