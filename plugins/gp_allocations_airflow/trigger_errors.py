"""Readable answers when a trigger's Params are refused.

Airflow checks a trigger's values against each Param's JSON schema and answers 400 with the
validator's text: the regular expression, the schema dump, "On instance". The trigger form shows that
text as it is. ``ReadableParamErrors`` (an API server root middleware added by the UI plugin) turns
it into one sentence built from the Param's own title, description and limits, for this project's
DAGs only (other teams' DAGs on the same Airflow are left alone). Anything it cannot read passes
through unchanged: it never hides an error.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

log = logging.getLogger(__name__)

_TRIGGER = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
_DETAIL = re.compile(r"^Invalid input for param (?P<key>[^:\s]+):")
_TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "array": "a list",
    "object": "a set of named values",
    "boolean": "yes or no",
    "null": "empty",
}


def _choices(values: list) -> str:
    shown = [str(v) for v in values if v is not None]
    return ", ".join(shown[:12]) + (f" (and {len(shown) - 12} more)" if len(shown) > 12 else "")


def readable_param_error(key: str, value: Any, schema: dict) -> str | None:
    """One sentence saying which field is wrong, what was given and what is allowed; None if valid."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return None
    title = schema.get("title") or key
    given = error.instance
    shown = f"'{given}'" if isinstance(given, str) else json.dumps(given)
    hint = f" {schema['description']}" if schema.get("description") else ""
    rule, limit = error.validator, error.validator_value
    if rule == "pattern":
        what = f"{shown} is not in the expected form."
    elif rule == "enum":
        what = f"{shown} is not one of the choices: {_choices(limit)}."
    elif rule == "minimum":
        what = f"{shown} is below the lowest allowed value, {limit}."
    elif rule == "maximum":
        what = f"{shown} is above the highest allowed value, {limit}."
    elif rule == "exclusiveMinimum":
        what = f"{shown} must be more than {limit}."
    elif rule == "exclusiveMaximum":
        what = f"{shown} must be less than {limit}."
    elif rule == "type":
        kinds = limit if isinstance(limit, list) else [limit]
        what = f"{shown} is not {' or '.join(_TYPE_WORDS.get(k, k) for k in kinds)}."
    elif rule == "uniqueItems":
        what = "each value may be chosen only once."
    elif rule == "minLength":
        what = f"{shown} is too short ({limit} characters at least)."
    elif rule == "maxLength":
        what = f"{shown} is too long ({limit} characters at most)."
    else:
        what = f"{error.message}."
    return f"{title}: {what}{hint} The run was not started."


def _schema_of(dag_id: str, key: str) -> dict | None:
    """The Param's schema in the DAG version the API server serves (metadata database)."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_id)
    if dag is None or key not in dag.params:
        return None
    param = dag.params.get_param(key)
    schema = dict(param.schema)
    if param.description and "description" not in schema:
        schema["description"] = param.description
    return schema


class ReadableParamErrors:
    """ASGI middleware: rewrites 400 answers to ``POST /api/v2/dags/<dag>/dagRuns`` for matching DAGs."""

    def __init__(self, app, dag_id_prefix: str = "gp_allocations", schema_of=_schema_of) -> None:
        self.app = app
        self.dag_id_prefix = dag_id_prefix
        self.schema_of = schema_of

    async def __call__(self, scope, receive, send):
        match = _TRIGGER.search(scope.get("path", "")) if scope.get("type") == "http" else None
        if not match or scope.get("method") != "POST" or not match["dag_id"].startswith(self.dag_id_prefix):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: dict | None = None
        held: list[bytes] = []

        async def capture(message):
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] != 400:
                    start = None
                    await send(message)
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            held.append(message.get("body", b""))
            if message.get("more_body"):
                return
            answer = await self._rewritten(match["dag_id"], body, b"".join(held))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(answer)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": answer, "more_body": False})

        await self.app(scope, replay, capture)

    async def _rewritten(self, dag_id: str, request_body: bytes, answer: bytes) -> bytes:
        try:
            detail = json.loads(answer)["detail"]
            found = _DETAIL.match(detail) if isinstance(detail, str) else None
            if not found:
                return answer
            key = found["key"]
            conf = (json.loads(request_body or b"{}") or {}).get("conf") or {}
            import anyio

            schema = await anyio.to_thread.run_sync(self.schema_of, dag_id, key)
            sentence = readable_param_error(key, conf.get(key), schema) if schema else None
            return json.dumps({"detail": sentence}).encode() if sentence else answer
        except Exception:  # never hide the original error behind a failure of this one
            log.warning("could not reword a Param error", exc_info=True)
            return answer
