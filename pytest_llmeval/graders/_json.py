"""JSON graders: the answer parses, matches a JSON Schema, or holds a value at a pointer.

Structured-output prompts fail in three distinct ways — not JSON at all, JSON of the
wrong shape, the right shape with a wrong value — and each grader here names its own::

    g = json_schema("schemas/order.json", base_dir=Path("features"))
    g(make_sample('{"sku": "A-1", "quantity": "three"}'), {}).reason
    # "answer does not match schema file 'schemas/order.json' at $.quantity:
    #  'three' is not of type 'integer' (1 error)"

A Markdown-fenced answer (```json ... ```) is accepted, and the grade's details say so.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from ._base import (
    FunctionGrader,
    Grade,
    GraderConfigError,
    Item,
    Sample,
    caller_dir,
    one_line,
    parse_json_answer,
    preview,
)
from ._imports import IMPORT_SPEC, import_object

if TYPE_CHECKING:
    from referencing import Registry

_MAX_DETAILED_ERRORS = 20


def valid_json() -> FunctionGrader:
    """Pass when the whole answer parses as JSON.

    The first check of a structured-output scenario: when it fails, the schema and
    pointer checks that follow it fail for the same reason, and this one says it plainly.
    """

    def grade(sample: Sample, item: Item) -> Grade:
        text = sample["output_text"]
        ok, value, note = parse_json_answer(text)
        if not ok:
            return Grade.check("valid_json", False, f"expected valid JSON, got {preview(text)} ({note})", note=note)
        reason = "answer is valid JSON" + (f" ({note})" if note else "")
        return Grade.check("valid_json", True, reason, note=note, json_type=_json_type(value))

    return FunctionGrader(name="valid_json", spec={"type": "valid_json"}, fn=grade)


def json_schema(
    schema: str | os.PathLike[str] | Mapping[str, Any] | bool,
    *,
    base_dir: Path | None = None,
) -> FunctionGrader:
    """Pass when the answer is JSON valid under ``schema``.

    ``schema`` may be

    - a path to a JSON file; a relative path is resolved from ``base_dir`` (the feature
      file's folder, for steps), else from the folder of the module that calls
      ``json_schema`` (a test module: "next to this test");
    - a ``"module:Name"`` string (dotted Python names around one colon, not ending in
      ``.json``) naming a pydantic model class (its ``model_json_schema()``) or a dict
      holding a schema; the module is looked for in ``base_dir`` too;
    - a dict or a boolean schema, or a string holding the JSON text of an object schema
      (as a feature file's docstring gives it).

    The draft is draft 2020-12 unless the schema's ``$schema`` names another one that
    jsonschema knows. ``format`` is an annotation, as 2020-12 specifies, so ``"format":
    "email"`` does not fail an answer. A ``$ref`` to another file is loaded relative to the
    schema's own file (or ``base_dir``); remote ``http(s)`` refs are never fetched, so a
    test cannot hang on the network: keep such schemas beside the feature file.

    A bad schema raises :class:`GraderConfigError` here, once, naming the file and the
    place in the schema; an answer that is not JSON is a failed grade.
    """
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from jsonschema.exceptions import SchemaError, best_match  # type: ignore[import-untyped]
    from jsonschema.validators import validator_for  # type: ignore[import-untyped]
    from referencing.exceptions import Unresolvable

    loaded, label, ref_dir = _load_schema(schema, base_dir if base_dir is not None else caller_dir())
    try:
        validator_class: Any = validator_for(loaded, default=Draft202012Validator)
    except TypeError as exc:  # "$schema" is a list or a dict: unhashable
        raise GraderConfigError(f"json_schema: {label} is not a valid schema: $schema must be a URI string") from exc
    try:
        validator_class.check_schema(loaded)
    except SchemaError as exc:
        hint = ""
        if exc.validator == "format" and re.search(r"\\[pP]\{", str(exc.instance)):
            # ECMA-262 syntax such as \p{Letter} is valid JSON Schema but not Python.
            hint = "; patterns run on Python's re module, which has no \\p{...} classes"
        raise GraderConfigError(
            f"json_schema: {label} is not a valid schema at {exc.json_path}: {one_line(exc.message)} "
            f"(checked against the {_draft_name(validator_class)} meta-schema{hint})"
        ) from exc
    registry = _file_registry(ref_dir)
    _check_refs(loaded, registry, label)
    validator = validator_class(loaded, registry=registry)

    def grade(sample: Sample, item: Item) -> Grade:
        text = sample["output_text"]
        ok, value, note = parse_json_answer(text)
        if not ok:
            return Grade.check("json_schema", False, f"expected JSON matching {label}, got {preview(text)} ({note})")
        try:
            errors = list(validator.iter_errors(value))
        except Unresolvable as exc:
            return Grade.errored(
                "json_schema",
                f"cannot resolve a $ref in {label}: {exc} (refs are loaded from local files only)",
            )
        except RecursionError:
            return Grade.errored("json_schema", f"answer is nested too deeply to validate against {label}")
        if not errors:
            return Grade.check("json_schema", True, f"answer matches {label}", note=note)
        best = best_match(errors)
        count = "1 error" if len(errors) == 1 else f"first of {len(errors)} errors"
        return Grade.check(
            "json_schema",
            False,
            f"answer does not match {label} at {best.json_path}: {one_line(best.message, 160)} ({count})",
            note=note,
            error_count=len(errors),
            errors=[
                {"path": error.json_path, "message": one_line(error.message), "keyword": error.validator}
                for error in errors[:_MAX_DETAILED_ERRORS]
            ],
        )

    spec = {"type": "json_schema", "schema": loaded, "source": label}
    return FunctionGrader(name="json_schema", spec=spec, fn=grade)


def _check_refs(schema: dict[str, Any] | bool, registry: Registry[Any], label: str) -> None:
    """Resolve every ``$ref`` now, so a missing file is the step's error, not every answer's.

    Checked from the root only: under a nested ``$id`` a ref resolves against another base,
    which jsonschema itself follows at validation (still an error grade then).
    """
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    refs: list[str] = []
    stack: list[Any] = [schema]
    while stack:  # a loop, not recursion: schemas may be deep
        node = stack.pop()
        if isinstance(node, dict):
            if "$id" in node and node is not schema:
                return
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if not refs:
        return
    resolver = registry.resolver_with_root(DRAFT202012.create_resource(schema))
    for ref in refs:
        try:
            resolver.lookup(ref)
        except Unresolvable as exc:
            raise GraderConfigError(
                f"json_schema: cannot resolve the $ref {ref!r} in {label}: {exc} "
                "(refs are loaded from local files only)"
            ) from None


def _draft_name(validator_class: Any) -> str:
    """``Draft202012Validator`` -> ``draft 2020-12``, as people name drafts."""
    match = re.fullmatch(r"Draft(\d{4})(\d{2})Validator|Draft(\d)Validator", validator_class.__name__)
    if match is None:
        return str(validator_class.__name__)
    return f"draft {match[1]}-{match[2]}" if match[1] else f"draft-0{match[3]}"


def _load_schema(
    schema: str | os.PathLike[str] | Mapping[str, Any] | bool, base_dir: Path | None
) -> tuple[dict[str, Any] | bool, str, Path | None]:
    """Return (schema, how reasons name it, the folder its relative ``$ref`` files are in)."""
    base = Path(base_dir) if base_dir is not None else None
    if isinstance(schema, bool):
        return schema, "the inline schema", base
    if isinstance(schema, Mapping):
        return _as_json(schema, "the inline schema"), "the inline schema", base
    if isinstance(schema, str) and schema.lstrip().startswith("{"):
        return _parse_schema_text(schema, "the inline schema"), "the inline schema", base
    if isinstance(schema, str) and IMPORT_SPEC.fullmatch(schema) and not schema.endswith(".json"):
        return _schema_from_object(schema, import_object(schema, base)), f"the schema of {schema!r}", base
    if not isinstance(schema, str | os.PathLike):
        raise GraderConfigError(
            f"json_schema: schema must be a path, a 'module:Name' string, a dict or a bool, got {type(schema).__name__}"
        )
    given = os.fspath(schema)
    path = Path(given)
    if not path.is_absolute():
        path = (base if base is not None else Path.cwd()) / path
    label = f"schema file {given!r}"
    where = f"relative paths are resolved from {base}" if base is not None else "relative to the current directory"
    if not path.is_file():
        problem = "is a folder, not a JSON file" if path.is_dir() else "not found"
        raise GraderConfigError(f"json_schema: {label} {problem} (looked at {path}; {where})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GraderConfigError(f"json_schema: cannot read {label} ({path}): {exc}") from exc
    return _parse_schema_text(text, label), label, path.parent


def _parse_schema_text(text: str, label: str) -> dict[str, Any] | bool:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraderConfigError(
            f"json_schema: {label} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    except RecursionError:
        raise GraderConfigError(f"json_schema: {label} is nested too deeply to be read") from None
    if not isinstance(value, dict | bool):
        raise GraderConfigError(
            f"json_schema: {label} must hold a JSON object or a boolean, not a JSON {_json_type(value)}"
        )
    return value


def _schema_from_object(spec: str, obj: Any) -> dict[str, Any] | bool:
    if isinstance(obj, type) and hasattr(obj, "model_json_schema"):
        from pydantic import BaseModel

        if issubclass(obj, BaseModel):
            try:
                return obj.model_json_schema()
            except Exception as exc:  # pydantic raises several kinds for types it cannot describe
                raise GraderConfigError(
                    f"json_schema: {spec!r} has no JSON Schema: {type(exc).__name__}: {one_line(str(exc))}"
                ) from exc
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, Mapping):
        return _as_json(obj, repr(spec))
    raise GraderConfigError(
        f"json_schema: {spec!r} is a {type(obj).__name__}; expected a pydantic model class or a dict "
        "holding a JSON Schema"
    )


def _as_json(schema: Mapping[str, Any], label: str) -> dict[str, Any]:
    """A JSON copy: the grader never sees later changes to the caller's dict, and spec is JSON-able."""
    try:
        copied: dict[str, Any] = json.loads(json.dumps(schema, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise GraderConfigError(f"json_schema: {label} is not JSON-able: {exc}") from exc
    return copied


def _file_registry(ref_dir: Path | None) -> Registry[Any]:
    """A registry that loads ``$ref`` targets from local files and never from the network.

    jsonschema's default registry would fetch ``http(s)`` refs (with a deprecation
    warning); a grader must not depend on the network in the middle of a test run.
    """
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT202012

    @cache
    def retrieve(uri: str) -> Resource[Any]:
        parts = urlsplit(uri)
        if parts.scheme == "file":
            path = Path(url2pathname(parts.path))
        elif not parts.scheme and not parts.netloc and ref_dir is not None:
            path = ref_dir / unquote(parts.path)
        else:
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class mypy does not see
        contents = json.loads(path.read_text(encoding="utf-8-sig"))
        return Resource.from_contents(contents, default_specification=DRAFT202012)

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]


def json_pointer(pointer: str, expected: Any) -> FunctionGrader:
    """Pass when the value at RFC 6901 ``pointer`` in the answer equals ``expected``.

    ``""`` is the whole document, ``"/items/0/sku"`` walks members and array indices, and
    ``~1`` / ``~0`` stand for ``/`` / ``~`` inside a member name. Values compare as JSON
    does, not as Python does: ``1 == 1.0``, but ``true != 1`` and ``false != 0``, also
    inside arrays and objects.
    """
    tokens = _parse_pointer(pointer)
    try:
        wanted = json.loads(json.dumps(expected, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise GraderConfigError(f"json_pointer: expected value {expected!r} is not JSON: {exc}") from exc
    shown = _json_preview(wanted)
    where = f"JSON at {pointer!r}" if pointer else "the JSON answer"

    def grade(sample: Sample, item: Item) -> Grade:
        text = sample["output_text"]
        ok, document, note = parse_json_answer(text)
        if not ok:
            return Grade.check("json_pointer", False, f"expected {where} == {shown}, got {preview(text)} ({note})")
        found, value, missing = _resolve(document, tokens)
        if not found:
            return Grade.check("json_pointer", False, f"expected {where} == {shown}, but {missing}", note=note)
        if _json_equal(value, wanted):
            return Grade.check("json_pointer", True, f"{where} equals {shown}", note=note)
        return Grade.check(
            "json_pointer",
            False,
            f"expected {where} == {shown}, got {_json_preview(value)}",
            note=note,
            actual=value,
        )

    spec = {"type": "json_pointer", "pointer": pointer, "expected": wanted}
    return FunctionGrader(name="json_pointer", spec=spec, fn=grade)


_BAD_ESCAPE = re.compile(r"~(?![01])")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def _parse_pointer(pointer: str) -> list[str]:
    if not isinstance(pointer, str):
        raise GraderConfigError(f"json_pointer: pointer must be a string, got {type(pointer).__name__}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        fixed = pointer[1:] if pointer.startswith("#/") else "/" + pointer
        raise GraderConfigError(
            f"json_pointer: pointer {pointer!r} must be empty or start with '/' (RFC 6901); did you mean {fixed!r}?"
        )
    tokens = pointer[1:].split("/")
    for token in tokens:
        if _BAD_ESCAPE.search(token):
            raise GraderConfigError(
                f"json_pointer: pointer {pointer!r} has '~' not followed by 0 or 1; "
                "write '~0' for '~' and '~1' for '/' in member names"
            )
    # "~01" is "~1" literally: "~1" must be replaced first (RFC 6901 §4).
    return [token.replace("~1", "/").replace("~0", "~") for token in tokens]


def _resolve(document: Any, tokens: list[str]) -> tuple[bool, Any, str]:
    """Walk ``tokens``; return (True, value, "") or (False, None, why the walk stopped)."""
    current = document
    for depth, token in enumerate(tokens):
        here = _pointer_text(tokens[:depth])
        if isinstance(current, dict):
            if token not in current:
                return False, None, f"{here} has no member {token!r}"
            current = current[token]
        elif isinstance(current, list):
            if not _ARRAY_INDEX.fullmatch(token) or int(token) >= len(current):
                size = "1 item" if len(current) == 1 else f"{len(current)} items"
                return False, None, f"{here} is an array of {size}, with no index {token!r}"
            current = current[int(token)]
        else:
            shown = f"{_json_preview(current, 40)} ({_json_type(current)})"
            return False, None, f"{here} is {shown}, not an object or array, so it has no {token!r}"
    return True, current, ""


def _pointer_text(tokens: list[str]) -> str:
    if not tokens:
        return "the root"
    return repr("".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens))


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of parsed JSON values by JSON's rules: a boolean is never a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[key], b[key]) for key in a)
    return type(a) is type(b) and bool(a == b)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


def _json_preview(value: Any, limit: int = 80) -> str:
    """The value as JSON text (``true``, not ``True``), cut to about ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"
