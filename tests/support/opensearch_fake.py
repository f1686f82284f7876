"""A small OpenSearch look-alike over real HTTP, for the parts of the REST API qldb-cdc uses.

No OpenSearch server can be installed here (see the research notes), and mocks of the client do
not enforce external versioning. This server follows the OpenSearch documentation for:

* ``GET /`` and ``HEAD /`` (cluster info);
* ``POST /_bulk`` with ``index`` actions: ``_index``, ``_id``, ``version`` and
  ``version_type=external`` (a write whose version is not *strictly* greater than the stored one
  gets a per-item 409 ``version_conflict_engine_exception``), per-item ``status``/``result``/
  ``_version``, top-level ``errors``; an index name a real cluster refuses (see
  :func:`invalid_index_name`: uppercase, ``, # : \\ / * ? " < > |`` or space, a leading
  ``_ - +``, ``.``/``..``, over 255 bytes) gets a per-item 400 ``invalid_index_name_exception``,
  also on ``PUT <index>/_doc``;
* mappings: ``"enabled": false`` and ``flat_object`` fields accept any value (assumed for
  ``flat_object``, documented for ``enabled: false``); elsewhere dynamic mapping: the first value
  seen fixes a field's type; a later value that the type cannot
  take (an object where a scalar was, a non-numeric string in a numeric field...) gets a per-item
  400 ``mapper_parsing_exception``; ``dynamic_templates`` with ``path_match`` choose the type of
  a new field; ``"dynamic": "strict"`` rejects unknown fields; a write that
  would map more than :attr:`FakeOpenSearch.total_fields_limit` fields (1000) gets a 400;
* ``PUT``/``GET /_index_template/<name>``, applied (highest priority wins) when an index is
  auto-created;
* ``GET``/``PUT``/``POST /<index>/_doc/<id>`` (with ``refresh``);
* ``POST /<indices>/_search`` with ``match_all``, ``term``, ``exists``, ``bool`` (``must``/
  ``filter``/``must_not``), ``size``, ``sort`` on one field and ``search_after``. As on a real
  cluster, ``term`` and ``exists`` only see **indexed** fields: a field that is not in the
  mapping or sits inside an ``"enabled": false`` object matches nothing (``flat_object`` leaves
  are indexed as strings). Aggregations (``aggs``/``aggregations``) are refused with a 400: this
  server cannot compute them, so no test can pass on them here (the real-cluster suite can).
  Search sees a document only
  after a refresh (``POST /<indices>/_refresh`` or ``?refresh=true|wait_for``), like the real
  near-real-time search, while ``GET _doc`` is real time;
* ``GET /<indices>/_count``, ``DELETE /<indices>``, ``GET /_cat/indices/<indices>`` (JSON
  only; comma lists and ``*`` wildcards), ``DELETE /_index_template/<name>``.

``_source`` is returned byte for byte as it was sent (exact decimals survive). Fault injection:
:meth:`FakeOpenSearch.fail_next_items`, :meth:`FakeOpenSearch.fail_writes_of`,
:meth:`FakeOpenSearch.fail_next_requests` and
:attr:`FakeOpenSearch.max_content_length` (a larger body gets 413).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from core import json_codec
from tests.support.opensearch_index_names import invalid_index_name


@dataclass
class StoredDoc:
    """One document: its version, its raw ``_source`` text and the parsed source."""

    version: int
    source_text: str
    source: Any
    seq_no: int


@dataclass
class FakeIndex:
    """Documents, the searchable (refreshed) view, and the field mapping of one index."""

    docs: dict[str, StoredDoc] = field(default_factory=dict)
    searchable: dict[str, StoredDoc] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    strict_objects: set[str] = field(default_factory=set)
    flat_objects: set[str] = field(default_factory=set)
    dynamic_templates: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class MappingConflict(Exception):
    """A value the field's mapped type cannot take (becomes a 400 item)."""

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason


class HttpError(Exception):
    """A whole-request error response."""

    def __init__(self, status: int, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.body = {
            "error": {
                "root_cause": [{"type": error_type, "reason": reason}],
                "type": error_type,
                "reason": reason,
            },
            "status": status,
        }


_NUMERIC = {"long", "integer", "short", "byte", "float", "double", "half_float", "scaled_float"}
_STRINGS = {"text", "keyword"}


class FakeOpenSearch:
    """The fake server; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.indices: dict[str, FakeIndex] = {}
        self.templates: dict[str, Any] = {}
        self.requests: list[RecordedRequest] = []
        self.max_content_length: int | None = None
        self.total_fields_limit = 1000
        """``index.mapping.total_fields.limit``: mapped fields per index at most (as a cluster)."""
        self._item_faults: list[int] = []
        self._doc_faults: dict[str, list[int]] = {}
        self._request_faults: list[tuple[int, str]] = []
        self._seq = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOpenSearch:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenSearch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    # ---- fault injection and inspection ----------------------------------------------------

    def fail_next_items(self, count: int, status: int = 429) -> None:
        """Make the next ``count`` bulk items fail with ``status`` (429 or 5xx), unwritten."""
        with self._lock:
            self._item_faults.extend([status] * count)

    def fail_writes_of(self, doc_id: str, count: int, status: int = 429) -> None:
        """Make the next ``count`` bulk writes of ``doc_id`` fail with ``status``, unwritten."""
        with self._lock:
            self._doc_faults.setdefault(doc_id, []).extend([status] * count)

    def fail_next_requests(self, count: int, status: int = 503, path: str = "/_bulk") -> None:
        """Make the next ``count`` requests whose path starts with ``path`` fail with ``status``."""
        with self._lock:
            self._request_faults.extend([(status, path)] * count)

    def reset(self) -> None:
        """Drop every index, template, fault and recorded request."""
        with self._lock:
            self.indices.clear()
            self.templates.clear()
            self.requests.clear()
            self._item_faults.clear()
            self._doc_faults.clear()
            self._request_faults.clear()
            self.max_content_length = None

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests with ``method`` whose path starts with ``path_prefix``."""
        with self._lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    def doc(self, index: str, doc_id: str) -> StoredDoc | None:
        """The stored document, or ``None``."""
        with self._lock:
            idx = self.indices.get(index)
            return None if idx is None else idx.docs.get(doc_id)

    # ---- request dispatch ------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """Serve one request; returns (status, JSON text). Header names are lowercased."""
        parts = urlsplit(raw_path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        segments = [unquote(s) for s in parts.path.split("/") if s]
        with self._lock:
            self.requests.append(RecordedRequest(method, parts.path, params, body, headers or {}))
            try:
                self._injected_fault(parts.path)
                if self.max_content_length is not None and len(body) > self.max_content_length:
                    raise HttpError(
                        413,
                        "content_too_long_exception",
                        f"request body of {len(body)} bytes is too large",
                    )
                return self._route(method, segments, params, body)
            except HttpError as exc:
                return exc.status, json.dumps(exc.body)

    def _injected_fault(self, path: str) -> None:
        for i, (status, prefix) in enumerate(self._request_faults):
            if path.startswith(prefix):
                del self._request_faults[i]
                raise HttpError(status, "injected_fault", f"injected HTTP {status}")

    def _route(  # noqa: PLR0912 - one branch per endpoint
        self, method: str, seg: list[str], params: dict[str, str], body: bytes
    ) -> tuple[int, str]:
        if not seg:
            return 200, json.dumps(_cluster_info())
        if seg == ["_bulk"] and method in ("POST", "PUT"):
            return self._bulk(body, params)
        if len(seg) == 3 and seg[:2] == ["_cat", "indices"] and method == "GET":
            names = self._resolve(seg[2])
            return 200, json.dumps(
                [{"index": n, "docs.count": str(len(self.indices[n].docs))} for n in names]
            )
        if len(seg) == 2 and seg[0] == "_index_template":
            if method == "DELETE":
                if self.templates.pop(seg[1], None) is None:
                    raise HttpError(
                        404,
                        "index_template_missing_exception",
                        f"index_template [{seg[1]}] missing",
                    )
                return 200, '{"acknowledged":true}'
            if method == "PUT":
                self.templates[seg[1]] = json_codec.loads(body)
                return 200, '{"acknowledged":true}'
            if method == "GET":
                if seg[1] not in self.templates:
                    raise HttpError(
                        404,
                        "resource_not_found_exception",
                        f"index template matching [{seg[1]}] not found",
                    )
                entry = {"name": seg[1], "index_template": self.templates[seg[1]]}
                return 200, json_codec.dumps({"index_templates": [entry]})
        if len(seg) == 3 and seg[1] == "_doc":
            if method == "GET":
                return self._get_doc(seg[0], seg[2])
            if method in ("PUT", "POST"):
                return self._put_doc(seg[0], seg[2], body, params)
        if len(seg) == 2 and seg[1] == "_search" and method in ("GET", "POST"):
            return self._search(seg[0], body)
        if len(seg) == 2 and seg[1] == "_refresh" and method in ("GET", "POST"):
            for name in self._resolve(seg[0]):
                self._refresh(name)
            return 200, '{"_shards":{"total":1,"successful":1,"failed":0}}'
        if len(seg) == 2 and seg[1] == "_count" and method in ("GET", "POST"):
            query = json_codec.loads(body).get("query") if body else None
            count = sum(1 for _ in self._matching(seg[0], query))
            return 200, json.dumps({"count": count})
        if len(seg) == 1 and method == "DELETE":
            for name in self._resolve(seg[0]):
                del self.indices[name]
            return 200, '{"acknowledged":true}'
        raise HttpError(
            400, "illegal_argument_exception", f"fake does not serve {method} /{'/'.join(seg)}"
        )

    # ---- documents ---------------------------------------------------------------------------

    def _bulk(self, body: bytes, params: dict[str, str]) -> tuple[int, str]:
        lines = body.decode("utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        else:
            raise HttpError(
                400,
                "illegal_argument_exception",
                "The bulk request must be terminated by a newline [\\n]",
            )
        items: list[str] = []
        errors = False
        for i in range(0, len(lines), 2):
            try:
                action = json.loads(lines[i])
            except json.JSONDecodeError as exc:
                raise HttpError(400, "parse_exception", f"malformed action line: {exc}") from exc
            if list(action) != ["index"]:
                raise HttpError(
                    400,
                    "illegal_argument_exception",
                    f"fake supports only the index action, got {list(action)}",
                )
            if i + 1 >= len(lines):
                raise HttpError(400, "illegal_argument_exception", "action without source line")
            meta = action["index"]
            item = self._index_one(meta, lines[i + 1])
            errors = errors or item["status"] >= 300
            items.append(json.dumps({"index": item}))
        if params.get("refresh") in ("true", "wait_for", ""):
            for name in list(self.indices):
                self._refresh(name)
        return 200, '{"took":1,"errors":' + (
            "true" if errors else "false"
        ) + ',"items":[' + ",".join(items) + "]}"

    def _index_one(self, meta: dict[str, Any], source_text: str) -> dict[str, Any]:
        index, doc_id = meta["_index"], str(meta["_id"])
        head: dict[str, Any] = {"_index": index, "_id": doc_id}
        targeted = self._doc_faults.get(doc_id)
        if targeted or self._item_faults:
            status = targeted.pop(0) if targeted else self._item_faults.pop(0)
            kind = (
                "es_rejected_execution_exception"
                if status == 429
                else "unavailable_shards_exception"
            )
            return {
                **head,
                "status": status,
                "error": {"type": kind, "reason": f"injected {status}"},
            }
        invalid = invalid_index_name(index)
        if invalid is not None:
            return {
                **head,
                "status": 400,
                "error": {
                    "type": "invalid_index_name_exception",
                    "reason": f"Invalid index name [{index}], {invalid}",
                },
            }
        external = meta.get("version_type") == "external"
        idx = self._index_for_write(index)
        current = idx.docs.get(doc_id)
        if external:
            version = meta.get("version")
            if not isinstance(version, int) or version < 0:
                return {
                    **head,
                    "status": 400,
                    "error": {
                        "type": "action_request_validation_exception",
                        "reason": "illegal version value",
                    },
                }
            if current is not None and current.version >= version:
                reason = (
                    f"[{doc_id}]: version conflict, current version [{current.version}] is "
                    f"higher or equal to the one provided [{version}]"
                )
                return {
                    **head,
                    "status": 409,
                    "error": {
                        "type": "version_conflict_engine_exception",
                        "reason": reason,
                        "index": index,
                    },
                }
        else:
            version = 1 if current is None else current.version + 1
        try:
            source = json_codec.loads(source_text)
        except json.JSONDecodeError as exc:
            return {
                **head,
                "status": 400,
                "error": {"type": "mapper_parsing_exception", "reason": f"failed to parse: {exc}"},
            }
        try:
            new_fields = self._check_mapping(idx, source, doc_id)
        except MappingConflict as exc:
            return {**head, "status": 400, "error": {"type": exc.error_type, "reason": exc.reason}}
        if len(set(idx.mapping) | set(new_fields)) > self.total_fields_limit:
            reason = f"Limit of total fields [{self.total_fields_limit}] has been exceeded"
            return {
                **head,
                "status": 400,
                "error": {"type": "illegal_argument_exception", "reason": reason},
            }
        idx.mapping.update(new_fields)
        self._seq += 1
        idx.docs[doc_id] = StoredDoc(version, source_text, source, self._seq)
        return {
            **head,
            "_version": version,
            "result": "created" if current is None else "updated",
            "status": 201 if current is None else 200,
            "_seq_no": self._seq,
            "_primary_term": 1,
            "_shards": {"total": 1, "successful": 1, "failed": 0},
        }

    def _get_doc(self, index: str, doc_id: str) -> tuple[int, str]:
        idx = self.indices.get(index)
        if idx is None:
            raise HttpError(404, "index_not_found_exception", f"no such index [{index}]")
        doc = idx.docs.get(doc_id)
        head = f'{{"_index":{json.dumps(index)},"_id":{json.dumps(doc_id)}'
        if doc is None:
            return 404, head + ',"found":false}'
        return 200, (
            f'{head},"_version":{doc.version},"_seq_no":{doc.seq_no},"_primary_term":1,'
            f'"found":true,"_source":{doc.source_text}}}'
        )

    def _put_doc(
        self, index: str, doc_id: str, body: bytes, params: dict[str, str]
    ) -> tuple[int, str]:
        meta: dict[str, Any] = {"_index": index, "_id": doc_id}
        if "version" in params:
            meta["version"] = int(params["version"])
            meta["version_type"] = params.get("version_type", "internal")
        item = self._index_one(meta, body.decode("utf-8"))
        if item["status"] >= 300:
            error = item["error"]
            raise HttpError(item["status"], error["type"], error["reason"])
        if params.get("refresh") in ("true", "wait_for", ""):
            self._refresh(index)
        return item["status"], json.dumps(item)

    def _refresh(self, name: str) -> None:
        idx = self.indices[name]
        idx.searchable = dict(idx.docs)

    # ---- search ----------------------------------------------------------------------------

    def _search(self, expr: str, body: bytes) -> tuple[int, str]:
        request = json_codec.loads(body) if body else {}
        if "aggs" in request or "aggregations" in request:
            raise HttpError(
                400,
                "illegal_argument_exception",
                "the fake OpenSearch server computes no aggregations: test them against a real "
                "cluster (OPENSEARCH_URL)",
            )
        size = int(request.get("size", 10))
        sort_field: str | None = None
        descending = False
        for spec in _as_list(request.get("sort")):
            if isinstance(spec, str):
                sort_field = spec
            else:
                ((sort_field, order),) = spec.items()
                if isinstance(order, dict):
                    order = order.get("order", "asc")
                descending = order == "desc"
            break
        hits = list(self._matching(expr, request.get("query")))
        if sort_field is not None:
            hits.sort(
                key=lambda h: (
                    _field(h[2].source, sort_field) is None,
                    _field(h[2].source, sort_field) or "",
                ),
                reverse=descending,
            )
            after = request.get("search_after")
            if after is not None:
                pivot = after[0]
                hits = [
                    h
                    for h in hits
                    if (
                        _field(h[2].source, sort_field) < pivot
                        if descending
                        else _field(h[2].source, sort_field) > pivot
                    )
                ]
        else:
            hits.sort(key=lambda h: (h[0], h[1]))
        total = len(hits)
        rendered = []
        for index, doc_id, doc in hits[:size]:
            extra = ""
            if sort_field is not None:
                extra = ',"sort":' + json_codec.dumps([_field(doc.source, sort_field)])
            rendered.append(
                f'{{"_index":{json.dumps(index)},"_id":{json.dumps(doc_id)},"_version":{doc.version},'
                f'"_score":1.0,"_source":{doc.source_text}{extra}}}'
            )
        return 200, (
            '{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},'
            f'"hits":{{"total":{{"value":{total},"relation":"eq"}},"max_score":1.0,'
            f'"hits":[{",".join(rendered)}]}}}}'
        )

    def _resolve(self, expr: str) -> list[str]:
        names: list[str] = []
        for part in expr.split(","):
            if any(c in part for c in "*?"):
                names += [n for n in sorted(self.indices) if fnmatch.fnmatchcase(n, part)]
            elif part in self.indices:
                names.append(part)
            else:
                raise HttpError(404, "index_not_found_exception", f"no such index [{part}]")
        return names

    def _matching(self, expr: str, query: Any) -> Iterator[tuple[str, str, StoredDoc]]:
        for name in self._resolve(expr):
            idx = self.indices[name]
            for doc_id, doc in idx.searchable.items():
                if _matches(query, doc.source, idx):
                    yield name, doc_id, doc

    # ---- indices, templates and mappings ------------------------------------------------------

    def _index_for_write(self, name: str) -> FakeIndex:
        idx = self.indices.get(name)
        if idx is None:
            idx = FakeIndex()
            template = self._template_for(name)
            if template is not None:
                mappings = template.get("template", {}).get("mappings", {})
                _flatten_mapping(mappings, "", idx)
                for entry in mappings.get("dynamic_templates", []):
                    for spec in entry.values():
                        pattern, mapped = spec.get("path_match"), spec["mapping"].get("type")
                        if pattern and mapped:
                            idx.dynamic_templates.append((str(pattern), str(mapped)))
            self.indices[name] = idx
        return idx

    def _template_for(self, name: str) -> Any:
        best: tuple[int, Any] | None = None
        for body in self.templates.values():
            if any(fnmatch.fnmatchcase(name, p) for p in body.get("index_patterns", [])):
                priority = int(body.get("priority", 0))
                if best is None or priority > best[0]:
                    best = (priority, body)
        return None if best is None else best[1]

    def _check_mapping(self, idx: FakeIndex, source: Any, doc_id: str) -> dict[str, str]:
        new_fields: dict[str, str] = {}
        if not isinstance(source, dict):
            raise MappingConflict("mapper_parsing_exception", "source is not an object")
        self._check_object(idx, source, "", doc_id, new_fields)
        return new_fields

    def _check_object(
        self, idx: FakeIndex, obj: dict[str, Any], path: str, doc_id: str, new: dict[str, str]
    ) -> None:
        for key, value in obj.items():
            if key == "":
                raise MappingConflict(
                    "illegal_argument_exception", "field name cannot be an empty string"
                )
            full = f"{path}.{key}" if path else key
            for leaf in value if isinstance(value, list) else [value]:
                self._check_value(idx, leaf, full, path, doc_id, new)

    def _check_value(  # noqa: PLR0912, PLR0917 - one branch per type rule
        self, idx: FakeIndex, value: Any, full: str, parent: str, doc_id: str, new: dict[str, str]
    ) -> None:
        if value is None or idx.mapping.get(full) == "opaque":
            return
        if isinstance(value, list):  # nested arrays flatten into the same field
            for leaf in value:
                self._check_value(idx, leaf, full, parent, doc_id, new)
            return
        mapped = idx.mapping.get(full) or new.get(full)
        if mapped is None:
            if parent in idx.strict_objects or (parent == "" and "" in idx.strict_objects):
                raise MappingConflict(
                    "strict_dynamic_mapping_exception",
                    f"mapping set to strict, dynamic introduction of [{full}] is not allowed",
                )
            mapped = next(
                (t for p, t in idx.dynamic_templates if fnmatch.fnmatchcase(full, p)),
                _dynamic_type(value),
            )
            new[full] = mapped
        preview = (
            f"failed to parse field [{full}] of type [{mapped}] in document with id '{doc_id}'"
        )
        if mapped == "object":
            if not isinstance(value, dict):
                raise MappingConflict(
                    "mapper_parsing_exception",
                    f"object mapping for [{full}] tried to parse field [{full}] as object, "
                    "but found a concrete value",
                )
            self._check_object(idx, value, full, doc_id, new)
            return
        if isinstance(value, dict):
            raise MappingConflict(
                "mapper_parsing_exception", f"{preview}. Preview of field's value: object"
            )
        if mapped in _NUMERIC:
            if isinstance(value, bool) or (isinstance(value, str) and not _numeric_text(value)):
                raise MappingConflict(
                    "mapper_parsing_exception", f"{preview}. Preview of field's value: '{value}'"
                )
        elif mapped == "boolean":
            if not (isinstance(value, bool) or value in ("true", "false", "")):
                raise MappingConflict(
                    "mapper_parsing_exception", f"{preview}. Preview of field's value: '{value}'"
                )
        elif mapped == "date" and not (
            (isinstance(value, int) and not isinstance(value, bool)) or _iso_date(value)
        ):
            raise MappingConflict(
                "mapper_parsing_exception", f"{preview}. Preview of field's value: '{value}'"
            )


def _flatten_mapping(mapping: dict[str, Any], path: str, idx: FakeIndex) -> None:
    if mapping.get("dynamic") == "strict":
        idx.strict_objects.add(path)
    for key, spec in mapping.get("properties", {}).items():
        full = f"{path}.{key}" if path else key
        if spec.get("type") == "flat_object":
            idx.mapping[full] = "opaque"  # kept in _source, never parsed against a mapping
            idx.flat_objects.add(full)  # ... but its leaves are searchable as strings
        elif spec.get("enabled") is False:
            idx.mapping[full] = "opaque"  # kept in _source, never parsed, never indexed
        elif "properties" in spec or spec.get("type", "object") == "object":
            idx.mapping[full] = "object"
            _flatten_mapping(spec, full, idx)
        else:
            idx.mapping[full] = str(spec["type"])


def _dynamic_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, Decimal | float):
        return "float"
    if isinstance(value, dict):
        return "object"
    return "text"


def _numeric_text(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _iso_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _cluster_info() -> dict[str, Any]:
    return {
        "name": "fake-node",
        "cluster_name": "qldb-cdc-fake",
        "cluster_uuid": "fake",
        "version": {
            "distribution": "opensearch",
            "number": "2.13.0",
            "minimum_wire_compatibility_version": "7.10.0",
        },
        "tagline": "The OpenSearch Project: https://opensearch.org/",
    }


# ---- search ------------------------------------------------------------------------------------


def _field(source: Any, path: str) -> Any:
    value = source
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _term_matches(value: Any, wanted: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v == wanted and type(v) is type(wanted):
            return True
        if isinstance(v, bool) and isinstance(wanted, str) and str(v).lower() == wanted:
            return True
        if isinstance(v, str) and isinstance(wanted, str) and v == wanted:
            return True
    return False


def _indexed(idx: FakeIndex, path: str) -> bool:
    """Whether a real cluster would have indexed ``path`` in ``idx`` (so a query can see it)."""
    parts = path.split(".")
    for end in range(1, len(parts)):
        parent = ".".join(parts[:end])
        if parent in idx.flat_objects:
            return True
        if idx.mapping.get(parent) == "opaque":
            return False
    return path in idx.mapping and idx.mapping[path] not in ("opaque", "object")


def _matches(query: Any, source: Any, idx: FakeIndex) -> bool:
    if query is None or "match_all" in query:
        return True
    if "term" in query:
        ((path, wanted),) = query["term"].items()
        if isinstance(wanted, dict):
            wanted = wanted["value"]
        return _indexed(idx, path) and _term_matches(_field(source, path), wanted)
    if "exists" in query:
        path = query["exists"]["field"]
        return _indexed(idx, path) and _field(source, path) is not None
    if "bool" in query:
        spec = query["bool"]
        must = _as_list(spec.get("must")) + _as_list(spec.get("filter"))
        must_not = _as_list(spec.get("must_not"))
        return all(_matches(q, source, idx) for q in must) and not any(
            _matches(q, source, idx) for q in must_not
        )
    raise HttpError(400, "parsing_exception", f"fake does not support query {query!r}")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that forwards every request to the fake."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per response (no 40 ms delayed-ACK stall between header and body)
    disable_nagle_algorithm = True
    server_fake: FakeOpenSearch

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, text = self.server_fake.handle(
            self.command, self.path, body, {k.lower(): v for k, v in self.headers.items()}
        )
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""
