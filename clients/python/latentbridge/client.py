"""The latentbridge HTTP client: numpy arrays in and out, problems as exceptions."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .arrays import NPY, as_matrix, base64_matrix, binary_body, decode_binary, from_json_matrix
from .errors import (LimitError, OperationCancelled, OperationFailed, OperationTimeout, ProblemError,
                     parse_retry_after)

__all__ = ["Client", "Operation", "Response"]

JSON = "application/json"
TERMINAL = ("succeeded", "failed", "cancelled")
# Room left in a binary body for the .npy header (and a margin) when rows are fitted under BODY_LIMIT.
BODY_MARGIN = 4096
# The service caps one long-poll of an operation at 60 s.
MAX_POLL_SECONDS = 60

TranslatorRef = Union[str, Mapping[str, Any]]
ProgressCallback = Callable[["Operation"], None]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _camel_keys(options: Mapping[str, Any]) -> Dict[str, Any]:
    """Python keyword options (top_k, csls_k, ...) as the API's field names (topK, cslsK, ...)."""
    return {_camel(k): v for k, v in options.items() if v is not None}


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _seg(name: str) -> str:
    """A name as one path segment ("/" is sent as %2F)."""
    return urllib.parse.quote(name, safe="")


def _translator_id(translator: TranslatorRef) -> str:
    if isinstance(translator, str):
        return translator
    return str(translator["id"])


class Response:
    """One HTTP answer: status, headers (lower-case names) and body bytes."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = dict(headers)
        self.body = body

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


class Operation:
    """A long operation of the service (an asynchronous fit, evaluation or report).

    ``data`` is the operation object: ``id, kind, status, progress, result, error, attempts,
    createdAt, startedAt, finishedAt``. When the service answered at once (201/200) instead of
    making an operation, the Operation is already ``succeeded``, its ``id`` is None and its
    ``result`` is the answer.
    """

    def __init__(self, client: "Client", data: Mapping[str, Any]) -> None:
        self._client = client
        self.data: Dict[str, Any] = dict(data)

    @classmethod
    def completed(cls, client: "Client", kind: str, result: Any) -> "Operation":
        """An operation that the service did not need: its result was the answer."""
        return cls(client, {"id": None, "kind": kind, "status": "succeeded", "result": result, "error": None,
                            "progress": None, "attempts": 1})

    @property
    def id(self) -> Optional[str]:
        return self.data.get("id")

    @property
    def kind(self) -> Optional[str]:
        return self.data.get("kind")

    @property
    def status(self) -> str:
        return str(self.data.get("status"))

    @property
    def progress(self) -> Optional[Dict[str, Any]]:
        """``{phase, done, total, fraction}`` while it runs, or None."""
        return self.data.get("progress")

    @property
    def result(self) -> Any:
        return self.data.get("result")

    @property
    def error(self) -> Optional[Dict[str, Any]]:
        return self.data.get("error")

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def refresh(self, wait: Optional[float] = None) -> "Operation":
        """Reads the operation again; with ``wait`` (seconds, at most 60) the service answers when
        the operation ends or when that time has passed."""
        if self.id is None:
            return self
        self.data = self._client.get_operation(self.id, wait=wait).data
        return self

    def cancel(self) -> "Operation":
        """Asks the service to stop the operation at its next step (nothing is stored)."""
        if self.id is not None and not self.done:
            self.data = self._client.cancel_operation(self.id).data
        return self

    def wait(self, progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None) -> Any:
        """Waits (long-polling) until the operation ends and returns its result.

        ``progress`` is called with this Operation each time its status or progress changes.
        Raises :class:`OperationFailed` (carrying the operation's problem), :class:`OperationCancelled`,
        or :class:`OperationTimeout` after ``timeout`` seconds (the operation goes on).
        """
        started = time.monotonic()
        seen: Any = object()
        while True:
            state = (self.status, json.dumps(self.progress, sort_keys=True))
            if progress is not None and state != seen:
                seen = state
                progress(self)
            if self.status == "succeeded":
                return self.result
            if self.status == "failed":
                raise OperationFailed(self.data)
            if self.status == "cancelled":
                raise OperationCancelled(self.data)
            poll = float(MAX_POLL_SECONDS) / 2
            if timeout is not None:
                remaining = timeout - (time.monotonic() - started)
                if remaining <= 0:
                    raise OperationTimeout(self.data, time.monotonic() - started)
                poll = min(poll, remaining)
            self.refresh(wait=max(1, int(poll)))

    def __repr__(self) -> str:
        return f"Operation(id={self.id!r}, kind={self.kind!r}, status={self.status!r}, progress={self.progress!r})"


class Client:
    """A client of one latentbridge service.

    Args:
        base_url: e.g. ``"http://127.0.0.1:8080"``.
        api_key: sent as ``Authorization: Bearer <key>`` when the service has API keys.
        timeout: seconds a single HTTP request may take (a long-poll adds its wait to it).
        max_retries: how often a 429 or 503 answer (and a lost connection on requests that are
            safe to repeat) is retried before the error is raised.
        max_retry_wait: the longest Retry-After honoured; an answer asking for a longer wait is
            raised at once instead of retried earlier than the service asked.

    Arrays go in the binary forms (raw float32 with X-Shape, or .npy for float16/float64) and
    come back as numpy float32 arrays. Large translate and relative calls are split into chunks
    under the service's limits (``GET /v1/info``) and put back together in order.
    """

    def __init__(self, base_url: str, api_key: Optional[str] = None, timeout: float = 120.0,
                 max_retries: int = 5, max_retry_wait: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._info: Optional[Dict[str, Any]] = None

    # ---------------------------------------------------------------- transport

    def request(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None,
                json_body: Any = None, body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None,
                accept: str = JSON, timeout: Optional[float] = None, retry_transport: bool = False) -> Response:
        """Sends one request (retrying 429/503 after their Retry-After) and returns a 2xx answer.

        Any other answer is raised as :class:`ProblemError`. ``retry_transport`` also retries a
        lost connection or a timeout: only for requests that are safe to repeat.
        """
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: _query_value(v) for k, v in query.items() if v is not None})
        all_headers = {"Accept": accept}
        if self.api_key is not None:
            all_headers["Authorization"] = f"Bearer {self.api_key}"
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            all_headers["Content-Type"] = JSON
        all_headers.update(headers or {})
        attempt = 0
        while True:
            req = urllib.request.Request(url, data=body, method=method, headers=all_headers)
            try:
                with urllib.request.urlopen(req, timeout=timeout if timeout is not None else self.timeout) as answer:
                    return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
            except urllib.error.HTTPError as err:
                answer_headers = {k.lower(): v for k, v in err.headers.items()} if err.headers else {}
                problem = self._problem(err.code, answer_headers, err.read(), err.reason)
                if err.code in (429, 503) and attempt < self.max_retries:
                    wait = problem.retry_after
                    if wait is None:
                        wait = min(0.5 * 2 ** attempt, self.max_retry_wait)
                    if wait <= self.max_retry_wait:
                        attempt += 1
                        time.sleep(wait)
                        continue
                raise problem from None
            except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError):
                if not retry_transport or attempt >= self.max_retries:
                    raise
                time.sleep(min(0.5 * 2 ** attempt, self.max_retry_wait))
                attempt += 1

    @staticmethod
    def _problem(status: int, headers: Mapping[str, str], raw: bytes, reason: Any) -> ProblemError:
        content_type = headers.get("content-type", "")
        if "json" in content_type:
            try:
                parsed = json.loads(raw.decode("utf-8"))
                if isinstance(parsed, dict):
                    return ProblemError.from_problem(status, parsed, headers)
            except (ValueError, UnicodeDecodeError):
                pass
        text = raw[:500].decode("utf-8", "replace")
        return ProblemError(status, "about:blank", str(reason or ""), text, headers=headers)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def _pages(self, path: str, key: str, query: Optional[Mapping[str, Any]] = None) -> Iterator[Dict[str, Any]]:
        cursor: Optional[str] = None
        while True:
            page = self._json("GET", path, query={**(query or {}), "limit": 1000, "cursor": cursor}, retry_transport=True)
            yield from page[key]
            cursor = page.get("next")
            if not cursor:
                return

    # ---------------------------------------------------------------- limits

    def info(self, refresh: bool = False) -> Dict[str, Any]:
        """``GET /v1/info``: the service's version, limits, store and features (cached)."""
        if self._info is None or refresh:
            self._info = self._json("GET", "/v1/info", retry_transport=True)
        return self._info

    def _limit(self, name: str) -> int:
        return int(self.info()["limits"][name])

    def chunk_rows(self, cols: int, itemsize: int) -> int:
        """The most rows of ``cols`` values of ``itemsize`` bytes one binary request may carry."""
        by_rows = min(self._limit("MAX_ROWS_PER_REQUEST"), self._limit("QUEUE_MAX_ROWS"))
        by_bytes = (self._limit("BODY_LIMIT") - BODY_MARGIN) // max(1, cols * itemsize)
        return max(1, min(by_rows, by_bytes))

    def _check_whole(self, what: str, rows: int, body_bytes: int) -> None:
        max_rows = self._limit("MAX_ROWS_PER_REQUEST")
        body_limit = self._limit("BODY_LIMIT")
        if rows > max_rows:
            raise LimitError(f"{what} has {rows} rows, over this service's MAX_ROWS_PER_REQUEST of {max_rows}, "
                             "and cannot be split into several requests; send fewer rows")
        if body_bytes > body_limit:
            raise LimitError(f"{what} needs a body of {body_bytes} bytes, over this service's BODY_LIMIT of "
                             f"{body_limit} bytes, and cannot be split into several requests; send fewer rows")

    # ---------------------------------------------------------------- spaces and anchor sets

    def create_space(self, name: str, dim: int, description: Optional[str] = None,
                     metadata: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Creates (or, same dim, updates) a space: a model and its dimension."""
        body: Dict[str, Any] = {"dim": int(dim)}
        if description is not None:
            body["description"] = description
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return self._json("PUT", f"/v1/spaces/{_seg(name)}", json_body=body, retry_transport=True)

    def get_space(self, name: str) -> Dict[str, Any]:
        return self._json("GET", f"/v1/spaces/{_seg(name)}", retry_transport=True)

    def list_spaces(self) -> List[Dict[str, Any]]:
        """Every space (all pages)."""
        return list(self._pages("/v1/spaces", "spaces"))

    def delete_space(self, name: str, cascade: bool = False) -> None:
        """Deletes a space; with ``cascade`` also its embeddings and translators (else 409 while used)."""
        self.request("DELETE", f"/v1/spaces/{_seg(name)}", query={"cascade": cascade} if cascade else None)

    def create_anchor_set(self, name: str, ids: Sequence[str], description: Optional[str] = None) -> Dict[str, Any]:
        """Creates an anchor set: the ordered item ids (they cannot change later)."""
        body: Dict[str, Any] = {"ids": [str(i) for i in ids]}
        if description is not None:
            body["description"] = description
        return self._json("PUT", f"/v1/anchor-sets/{_seg(name)}", json_body=body, retry_transport=True)

    def get_anchor_set(self, name: str) -> Dict[str, Any]:
        return self._json("GET", f"/v1/anchor-sets/{_seg(name)}", retry_transport=True)

    def list_anchor_sets(self) -> List[Dict[str, Any]]:
        """Every anchor set (all pages)."""
        return list(self._pages("/v1/anchor-sets", "anchorSets"))

    def delete_anchor_set(self, name: str, cascade: bool = False) -> None:
        self.request("DELETE", f"/v1/anchor-sets/{_seg(name)}", query={"cascade": cascade} if cascade else None)

    def upload_embeddings(self, anchor_set: str, space: str, array: Any, ids: Optional[Sequence[str]] = None,
                          if_match: Optional[str] = None) -> Dict[str, Any]:
        """Stores a space's embeddings of the set's items (replacing any it held).

        Without ``ids`` the array has one row per id of the set, in its order, and goes as a binary
        body; with ``ids`` (one per row, any subset of the set) it goes as JSON with a base64
        matrix. An upload replaces the space's rows, so it is one request: a :class:`LimitError`
        when it is over the service's limits.
        """
        matrix, _ = as_matrix(array, "array")
        path = f"/v1/anchor-sets/{_seg(anchor_set)}/embeddings/{_seg(space)}"
        headers = {"If-Match": if_match} if if_match is not None else {}
        if ids is None:
            data, binary_headers = binary_body(matrix)
            self._check_whole("the upload", matrix.shape[0], len(data))
            return self._json("PUT", path, body=data, headers={**binary_headers, **headers}, retry_transport=True)
        if len(ids) != matrix.shape[0]:
            raise ValueError(f"ids has {len(ids)} entries but the array has {matrix.shape[0]} rows; give one id per row")
        body = {"vectors": base64_matrix(matrix), "ids": [str(i) for i in ids]}
        self._check_whole("the upload", matrix.shape[0], len(json.dumps(body)))
        return self._json("PUT", path, json_body=body, headers=headers, retry_transport=True)

    def download_embeddings(self, anchor_set: str, space: str) -> Tuple[List[str], np.ndarray]:
        """A space's stored embeddings in the set: their ids and the float32 matrix, in the set's order."""
        path = f"/v1/anchor-sets/{_seg(anchor_set)}/embeddings/{_seg(space)}"
        step = self._limit("MAX_ROWS_PER_REQUEST")
        ids: List[str] = []
        parts: List[np.ndarray] = []
        offset = 0
        while True:
            page = self._json("GET", path, query={"encodingFormat": "base64", "offset": offset, "limit": step},
                              retry_transport=True)
            ids.extend(page["ids"])
            parts.append(from_json_matrix(page["vectors"]))
            offset += len(page["ids"])
            if offset >= page["rows"] or not page["ids"]:
                return ids, np.concatenate(parts, axis=0)

    def delete_embeddings(self, anchor_set: str, space: str) -> None:
        self.request("DELETE", f"/v1/anchor-sets/{_seg(anchor_set)}/embeddings/{_seg(space)}")

    def select_anchors(self, anchor_set: str, space: str, k: int, strategy: str = "fps", seed: int = 0) -> List[str]:
        """k well-spread ids of the set (which items to embed with a new model)."""
        body = {"space": space, "k": int(k), "strategy": strategy, "seed": int(seed)}
        return self._json("POST", f"/v1/anchor-sets/{_seg(anchor_set)}/select", json_body=body, retry_transport=True)["ids"]

    # ---------------------------------------------------------------- compute

    def _chunked(self, path: str, matrix: np.ndarray, query: Dict[str, Any], chunk_rows: Optional[int],
                 pin: Optional[Callable[[Response, Dict[str, Any]], None]] = None) -> np.ndarray:
        step = self.chunk_rows(matrix.shape[1], matrix.dtype.itemsize)
        if chunk_rows is not None:
            step = max(1, min(step, int(chunk_rows)))
        outs: List[np.ndarray] = []
        rows = matrix.shape[0]
        for start in range(0, max(rows, 1), step):
            data, headers = binary_body(matrix[start:start + step])
            answer = self.request("POST", path, query=query, body=data, headers=headers, accept=NPY, retry_transport=True)
            outs.append(decode_binary(answer.body, answer.content_type, answer.headers.get("x-shape")))
            if pin is not None:
                pin(answer, query)
        out = np.concatenate(outs, axis=0) if len(outs) > 1 else outs[0]
        return np.asarray(out, dtype=np.float32)

    def translate(self, source: str, target: str, array: Any, translator: Optional[TranslatorRef] = None,
                  chunk_rows: Optional[int] = None) -> np.ndarray:
        """Translates vectors of ``source`` into ``target`` (float32 array, one row per input row).

        Uses the pair's active translator unless one is named; a call split into chunks uses the
        translator of its first chunk for all of them. A 1-D vector in gives a 1-D vector out.
        """
        matrix, single = as_matrix(array)
        query: Dict[str, Any] = {"source": source, "target": target,
                                 "translator": _translator_id(translator) if translator is not None else None}

        def pin(answer: Response, q: Dict[str, Any]) -> None:
            if q["translator"] is None:
                q["translator"] = answer.headers.get("x-translator-id")

        out = self._chunked("/v1/translate", matrix, query, chunk_rows, pin)
        return out[0] if single else out

    def relative(self, space: str, anchor_set: str, array: Any, chunk_rows: Optional[int] = None,
                 **options: Any) -> np.ndarray:
        """Relative vectors: each input row as its similarities to the set's anchors in ``space``.

        Options as in the API, in Python spelling: ``projection`` (a name or a list), ``center``,
        ``common_with`` (a list of spaces), ``top_k``, ``power``, ``normalize``.
        """
        matrix, single = as_matrix(array)
        query = {"space": space, "anchorSet": anchor_set, **_camel_keys(options)}
        out = self._chunked("/v1/relative", matrix, query, chunk_rows)
        return out[0] if single else out

    def similarity(self, spaces: Tuple[str, str], anchor_set: str, k: int = 10) -> Dict[str, Any]:
        """How alike two spaces are on the anchors both hold (linear CKA, kNN Jaccard)."""
        body = {"spaces": list(spaces), "anchorSet": anchor_set, "k": int(k)}
        return self._json("POST", "/v1/similarity", json_body=body, retry_transport=True)

    # ---------------------------------------------------------------- translators

    def _long(self, path: str, body: Dict[str, Any], kind: str, wait: bool, progress: Optional[ProgressCallback],
              timeout: Optional[float], idempotency_key: Optional[str], accept: str = JSON) -> Any:
        """A creating POST that the service may answer at once or as an operation (202)."""
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        if not wait or progress is not None:
            headers["Prefer"] = "respond-async"
        # Safe to repeat after a lost connection: the Idempotency-Key makes the service answer a
        # repeat with the first request's operation or result instead of doing the work again.
        answer = self.request("POST", path, json_body=body, headers=headers, accept=accept, retry_transport=True)
        if answer.status == 202:
            data = answer.json() or {}
            if not data.get("id") and answer.headers.get("location"):
                # The operation's URL is authoritative when the body does not carry it.
                data = self.get_operation(answer.headers["location"].rstrip("/").rsplit("/", 1)[-1]).data
            operation = Operation(self, data)
        elif "json" not in answer.content_type:
            return answer.body.decode("utf-8")
        else:
            operation = Operation.completed(self, kind, answer.json())
        if not wait:
            return operation
        return operation.wait(progress=progress, timeout=timeout)

    def fit(self, source: str, target: str, anchor_set: str, *, wait: bool = True,
            progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None,
            idempotency_key: Optional[str] = None, **options: Any) -> Any:
        """Fits a translator ``source`` → ``target`` on the parallel anchors of ``anchor_set``.

        Options as in the API, in Python spelling: ``method`` ("procrustes", ..., "auto"),
        ``scaling``, ``ridge``, ``holdout``, ``folds``, ``seed``, ``name``, ``activate``,
        ``refine`` (a dict). Returns the translator listing; when the service makes the fit an
        operation it waits for it (``progress`` is called with the :class:`Operation` as it
        advances; asking for progress asks the service for an operation). With ``wait=False`` it
        returns the :class:`Operation` at once. An Idempotency-Key (a uuid4 unless given) makes
        the client's own retries safe: never a second translator.
        """
        body = {"source": source, "target": target, "anchorSet": anchor_set, **_camel_keys(options)}
        return self._long("/v1/translators", body, "fit", wait, progress, timeout, idempotency_key)

    def _scoring_body(self, vectors: Any, target_vectors: Any, options: Mapping[str, Any]) -> Dict[str, Any]:
        x, _ = as_matrix(vectors, "vectors")
        y, _ = as_matrix(target_vectors, "target_vectors")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"vectors has {x.shape[0]} rows but target_vectors has {y.shape[0]}; give the true target of each row")
        body = {"vectors": base64_matrix(x), "targetVectors": base64_matrix(y), **_camel_keys(options)}
        self._check_whole("vectors", x.shape[0], len(json.dumps(body)))
        return body

    def evaluate(self, translator: TranslatorRef, vectors: Any, target_vectors: Any, *, wait: bool = True,
                 progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None,
                 idempotency_key: Optional[str] = None, **options: Any) -> Any:
        """Scores a translator on source vectors and their true targets, row for row.

        Options: ``k``, ``retrieval`` ("cosine" or "csls"), ``csls_k``. Returns the evaluation
        (count, meanCosine, mse, top1, topK, mrr, ...); operations as in :meth:`fit`.
        """
        body = self._scoring_body(vectors, target_vectors, options)
        return self._long(f"/v1/translators/{_seg(_translator_id(translator))}/evaluate", body, "evaluate",
                          wait, progress, timeout, idempotency_key)

    def report(self, translator: TranslatorRef, vectors: Any, target_vectors: Any, *, html: bool = False,
               wait: bool = True, progress: Optional[ProgressCallback] = None, timeout: Optional[float] = None,
               idempotency_key: Optional[str] = None, **options: Any) -> Any:
        """The migration report of a translator on held-out items embedded by both models.

        Same body as :meth:`evaluate`. Returns the report as a dict, or with ``html=True`` the
        self-contained HTML page as a string (when the service answers at once; an operation's
        result is the JSON report).
        """
        body = self._scoring_body(vectors, target_vectors, options)
        return self._long(f"/v1/translators/{_seg(_translator_id(translator))}/report", body, "report",
                          wait, progress, timeout, idempotency_key, accept="text/html" if html else JSON)

    def get_translator(self, translator: TranslatorRef) -> Dict[str, Any]:
        return self._json("GET", f"/v1/translators/{_seg(_translator_id(translator))}", retry_transport=True)

    def list_translators(self, source: Optional[str] = None, target: Optional[str] = None) -> List[Dict[str, Any]]:
        """Every translator (all pages), optionally of one source and/or target space."""
        return list(self._pages("/v1/translators", "translators", {"source": source, "target": target}))

    def activate(self, translator: TranslatorRef, if_match: Optional[str] = None) -> Dict[str, Any]:
        """Makes a translator its pair's active one (the one translate uses by default)."""
        headers = {"If-Match": if_match} if if_match is not None else {}
        return self._json("POST", f"/v1/translators/{_seg(_translator_id(translator))}/activate", headers=headers,
                          retry_transport=True)

    def export(self, translator: TranslatorRef, path: Optional[str] = None) -> bytes:
        """The translator as a standalone ONNX model (input ``x``, output ``y``); written to ``path`` if given."""
        answer = self.request("GET", f"/v1/translators/{_seg(_translator_id(translator))}/onnx",
                              accept="application/octet-stream", retry_transport=True)
        if path is not None:
            with open(path, "wb") as out:
                out.write(answer.body)
        return answer.body

    def delete_translator(self, translator: TranslatorRef, if_match: Optional[str] = None) -> None:
        headers = {"If-Match": if_match} if if_match is not None else {}
        self.request("DELETE", f"/v1/translators/{_seg(_translator_id(translator))}", headers=headers)

    # ---------------------------------------------------------------- operations

    def get_operation(self, operation_id: str, wait: Optional[float] = None) -> Operation:
        """``GET /v1/operations/{id}``; with ``wait`` it long-polls up to that many seconds (at most 60)."""
        seconds = None if wait is None else max(0, min(MAX_POLL_SECONDS, int(wait)))
        data = self._json("GET", f"/v1/operations/{_seg(operation_id)}", query={"wait": seconds},
                          timeout=self.timeout + (seconds or 0), retry_transport=True)
        return Operation(self, data)

    def wait_operation(self, operation_id: str, progress: Optional[ProgressCallback] = None,
                       timeout: Optional[float] = None) -> Any:
        """Waits for an operation to end and returns its result (see :meth:`Operation.wait`)."""
        return self.get_operation(operation_id).wait(progress=progress, timeout=timeout)

    def cancel_operation(self, operation_id: str) -> Operation:
        """Asks the service to stop an operation at its next step; nothing is stored."""
        return Operation(self, self._json("POST", f"/v1/operations/{_seg(operation_id)}/cancel", retry_transport=True))
