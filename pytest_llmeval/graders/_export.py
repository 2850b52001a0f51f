"""Our graders as OpenAI grader objects, for a reinforcement fine-tuning job (``finetune graders``).

::

    openai_grader(graders.string_check("30 days", "ilike"))
    # {"type": "string_check", "name": "string_check", "input": "{{sample.output_text}}",
    #  "reference": "30 days", "operation": "ilike"}

Every export starts from a grader's ``spec`` (the type names of :mod:`._registry`):

- OpenAI's own types (``string_check``, ``text_similarity``, ``score_model``,
  ``label_model``, ``python``, ``multi``) become the object of that type;
- the local ones become a ``python`` grader whose source reproduces them — ``regex``,
  ``one_of``, ``valid_json``, ``json_schema`` (with ``jsonschema``, which OpenAI's python
  grader sandbox provides), ``json_pointer``, and a ``string_check`` with our ``negate`` or
  ``strip`` — so the exported grader scores a sample exactly as ours does;
- the tool graders (``tool_call``, ``no_tool_call``, ``tool_sequence``) become ``python``
  graders reading ``sample["output_tools"]`` (:mod:`._export_tools`), the tools' schemas fixed in;
- a python grader written as a function is exported with its source, the modules it uses
  and its module's constants (and compiled patterns); one that needs anything else of its
  module, and ``pydantic_model`` (your class's own code), are :class:`NotExportable`, with
  the reason.

A test grades the same samples with a grader and with its export read back through the
OpenAI eval import (:mod:`pytest_llmeval._openai_evals.criteria`): the scores are equal.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
import textwrap
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._export_tools import JSON_EQUAL, no_tool_call_source, tool_call_source, tool_sequence_source
from ._multi import NAME_PATTERN
from ._templates import TEMPLATE

ANSWER = "{{sample.output_text}}"


class NotExportable(Exception):
    """A grader that has no faithful OpenAI grader object; the message says why and what to do."""


def openai_grader(
    grader: object, judge_model: str | None = None, tools: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """The OpenAI grader object of ``grader`` (anything with a ``spec``); :class:`NotExportable` otherwise.

    ``tools`` are the case's: a ``tool_call`` grader made without ``tools=`` checks a call
    against the case's tools when it grades, so its export carries them.
    """
    spec = getattr(grader, "spec", None)
    name = str(getattr(grader, "name", "grader"))
    if not isinstance(spec, Mapping):
        raise NotExportable(f"{name}: a grader object without a spec; write it as a python grader or a built-in type")
    if spec.get("type") == "tool_call" and "tools" not in spec and tools is not None:
        spec = {**spec, "tools": list(tools)}
    exported = export_spec(spec, name, judge_model)
    sampling = getattr(grader, "sampling", None)
    if exported["type"] in ("score_model", "label_model") and sampling:
        exported["sampling_params"] = dict(sampling)
    return exported


def export_spec(spec: Mapping[str, Any], name: str, judge_model: str | None = None) -> dict[str, Any]:
    """The OpenAI grader object of one spec (a multi's sub-graders are specs too)."""
    kind = spec.get("type")
    exporter = _EXPORTERS.get(str(kind))
    if exporter is None:
        raise NotExportable(f"{name}: grader type {kind!r} has no OpenAI grader and no python equivalent here")
    return exporter(spec, name, judge_model)


def combined(objects: Mapping[str, Mapping[str, Any]], name: str) -> dict[str, Any]:
    """One ``multi`` grader that passes a sample when every one of ``objects`` would: a case's graders at once.

    Each sub-grader's pass is ``min(1, floor(score / threshold))`` (1 at or above its
    threshold, else 0 or less), so the formula's ``min`` is 1 exactly when all pass.
    """
    keys: dict[str, Mapping[str, Any]] = {}
    for label, obj in objects.items():
        key = re.sub(r"\W", "_", label, flags=re.ASCII) or "grader"
        key = key if NAME_PATTERN.fullmatch(key) else f"_{key}"
        while key in keys:
            key += "_"
        keys[key] = obj
    terms = [_pass_term(key, obj) for key, obj in keys.items()]
    return {
        "type": "multi",
        "name": name,
        "graders": {key: dict(obj) for key, obj in keys.items()},
        "calculate_output": f"min({', '.join(terms)})" if len(terms) > 1 else terms[0],
        "pass_threshold": 1.0,
    }


def _pass_term(key: str, obj: Mapping[str, Any]) -> str:
    kind = obj.get("type")
    threshold: Any = obj.get("pass_threshold")
    if kind == "score_model" and threshold is None:
        threshold = (obj.get("range") or [0, 1])[1]
    if kind in ("string_check", "label_model") or threshold is None:
        return key  # a check's score is 1 or 0 already
    threshold = float(threshold)
    if threshold <= 0:
        return "1"
    return f"min(1, floor({key} / {threshold!r}))"


# ---- OpenAI's types ------------------------------------------------------------------------


def _string_check(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    reference = str(spec["reference"])
    if spec.get("negate") or spec.get("strip") or TEMPLATE.search(reference):
        # OpenAI has no negated or stripped check, and would render a {{...}} in the reference.
        source = _STRING_CHECK.format(
            reference=reference,
            operation=spec["operation"],
            negate=bool(spec.get("negate")),
            strip=bool(spec.get("strip")),
        )
        return _python(name, source)
    return {
        "type": "string_check",
        "name": name,
        "input": ANSWER,
        "reference": reference,
        "operation": spec["operation"],
    }


def _text_similarity(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    reference = str(spec["reference"])
    if TEMPLATE.search(reference):
        raise NotExportable(f"{name}: the reference {reference[:40]!r} holds {{{{...}}}}, which OpenAI would render")
    return {
        "type": "text_similarity",
        "name": name,
        "input": ANSWER,
        "reference": reference,
        "evaluation_metric": spec["evaluation_metric"],
        "pass_threshold": spec["pass_threshold"],
    }


def _judge(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    model = spec.get("model") or judge_model
    if not model:
        raise NotExportable(
            f"{spec.get('name', name)}: no judge model: give the judge model=, a @judge: tag, or --judge-model"
        )
    messages = [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in spec.get("input", [])]
    if not any(isinstance(m["content"], str) and "sample." in m["content"] for m in messages):
        # Our judge adds the answer itself; OpenAI's sees only what its input quotes.
        messages.append({"role": "user", "content": f"<candidate>\n{ANSWER}\n</candidate>"})
    obj: dict[str, Any] = {"type": spec["type"], "name": spec.get("name", name), "model": model, "input": messages}
    if spec["type"] == "score_model":
        low, high = spec.get("range", [1, 5])
        threshold = spec.get("pass_threshold")
        obj.update(range=[low, high], pass_threshold=high if threshold is None else threshold)
    else:
        obj.update(labels=list(spec["labels"]), passing_labels=list(spec["passing_labels"]))
    return obj


def _python_spec(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    label = str(spec.get("name", name))
    threshold = float(spec.get("pass_threshold", 1.0))
    if isinstance(spec.get("source"), str):
        return {"type": "python", "name": label, "source": spec["source"], "pass_threshold": threshold}
    origin = spec.get("function")
    if not isinstance(origin, str):
        raise NotExportable(f"{label}: a python grader without source or function")
    return {"type": "python", "name": label, "source": function_source(origin, label), "pass_threshold": threshold}


def _multi(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    subs = {key: export_spec(sub, key, judge_model) for key, sub in dict(spec["graders"]).items()}
    return {
        "type": "multi",
        "name": str(spec.get("name", name)),
        "graders": subs,
        "calculate_output": spec["calculate_output"],
        "pass_threshold": spec.get("pass_threshold", 1.0),
    }


# ---- local types, as python graders ------------------------------------------------------------


def _python(name: str, source: str) -> dict[str, Any]:
    return {"type": "python", "name": name, "source": source, "pass_threshold": 1.0}


_PARSE = '''
import json


def _parse(text):
    """(True, value) when the answer is JSON, bare or in one fenced block; else (False, None)."""
    stripped = text.strip()
    candidate = stripped
    if stripped.startswith("```") and stripped.endswith("```") and len(stripped) >= 6:
        body = stripped[3:-3]
        newline = body.find("\\n")
        language = body[:newline].strip() if newline != -1 else None
        if newline != -1 and (not language or language.isalnum()):
            candidate = body[newline + 1 :].strip()
    try:
        return True, json.loads(candidate)
    except (ValueError, RecursionError):
        return False, None
'''

_STRING_CHECK = """
REFERENCE = {reference!r}
OPERATION = {operation!r}
NEGATE = {negate!r}
STRIP = {strip!r}


def grade(sample, item):
    answer, reference = sample["output_text"], REFERENCE
    if STRIP:
        answer, reference = answer.strip(), reference.strip()
    if OPERATION == "eq":
        met = answer == reference
    elif OPERATION == "ne":
        met = answer != reference
    elif OPERATION == "like":
        met = reference in answer
    else:
        met = reference.casefold() in answer.casefold()
    return 1.0 if met != NEGATE else 0.0
"""


def _regex(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    return _python(
        name,
        f"import re\n\nPATTERN = re.compile({spec['pattern']!r}, {int(spec.get('flags', 0))})\n\n\n"
        'def grade(sample, item):\n    return 1.0 if PATTERN.search(sample["output_text"]) else 0.0\n',
    )


def _one_of(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    return _python(
        name,
        f"OPTIONS = {sorted(set(spec['options']))!r}\n\n\n"
        'def grade(sample, item):\n    return 1.0 if sample["output_text"].strip() in OPTIONS else 0.0\n',
    )


def _valid_json(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    return _python(
        name, _PARSE + '\n\ndef grade(sample, item):\n    return 1.0 if _parse(sample["output_text"])[0] else 0.0\n'
    )


def _json_schema(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    schema = spec["schema"]
    refs = sorted(set(_refs(schema)))
    if refs:
        raise NotExportable(
            f"{name}: the schema refers to other files ({', '.join(refs)}), which a python grader cannot read"
        )
    text = json.dumps(schema, ensure_ascii=False, sort_keys=True)
    return _python(
        name,
        _PARSE
        + "\nfrom jsonschema import Draft202012Validator\nfrom jsonschema.validators import validator_for\n\n"
        + f"SCHEMA = json.loads({text!r})\n"
        + "VALIDATOR = validator_for(SCHEMA, default=Draft202012Validator)(SCHEMA)\n\n\n"
        + "def grade(sample, item):\n"
        + '    ok, value = _parse(sample["output_text"])\n'
        + "    return 1.0 if ok and next(iter(VALIDATOR.iter_errors(value)), None) is None else 0.0\n",
    )


def _refs(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        found = [v for k, v in schema.items() if k == "$ref" and isinstance(v, str) and not v.startswith("#")]
        return found + [r for v in schema.values() for r in _refs(v)]
    if isinstance(schema, list):
        return [r for v in schema for r in _refs(v)]
    return []


_POINTER = (
    """
import re

TOKENS = {tokens!r}
EXPECTED = json.loads({expected!r})


"""
    + JSON_EQUAL
    + """

def grade(sample, item):
    ok, current = _parse(sample["output_text"])
    if not ok:
        return 0.0
    for token in TOKENS:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and re.fullmatch("0|[1-9][0-9]*", token) and int(token) < len(current):
            current = current[int(token)]
        else:
            return 0.0
    return 1.0 if _equal(current, EXPECTED) else 0.0
"""
)


def _json_pointer(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    pointer = str(spec["pointer"])
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")] if pointer else []
    expected = json.dumps(spec["expected"], ensure_ascii=False)
    return _python(name, _PARSE + _POINTER.format(tokens=tokens, expected=expected))


def _pydantic(spec: Mapping[str, Any], name: str, judge_model: str | None) -> dict[str, Any]:
    raise NotExportable(
        f"{name}: pydantic_model {spec.get('model')!r} runs your model class's own code (validators), which an "
        "OpenAI python grader cannot import; check its JSON Schema with json_schema, or write a python grader"
    )


_EXPORTERS: dict[str, Callable[[Mapping[str, Any], str, str | None], dict[str, Any]]] = {
    "string_check": _string_check,
    "text_similarity": _text_similarity,
    "score_model": _judge,
    "label_model": _judge,
    "python": _python_spec,
    "multi": _multi,
    "regex": _regex,
    "one_of": _one_of,
    "valid_json": _valid_json,
    "json_schema": _json_schema,
    "json_pointer": _json_pointer,
    "pydantic_model": _pydantic,
    "tool_call": lambda spec, name, judge_model: _python(name, tool_call_source(spec, None)),
    "no_tool_call": lambda spec, name, judge_model: _python(name, no_tool_call_source(spec)),
    "tool_sequence": lambda spec, name, judge_model: _python(name, tool_sequence_source(spec)),
}


# ---- a function's source ------------------------------------------------------------------------


def function_source(origin: str, label: str) -> str:
    """Self-contained source of the function ``module:qualname``, ending in ``grade(sample, item)``.

    It holds the function without its decorators, the modules it uses, its module's
    constants and compiled patterns, and the module's other functions it calls (their
    source too). Anything else — a class, an object, a closure — is :class:`NotExportable`.
    """
    function = _resolve(origin, label)
    parts: dict[str, str] = {}
    imports: dict[str, str] = {}
    constants: dict[str, str] = {}
    _collect(function, label, parts, imports, constants, set())
    name = function.__name__
    body = [*sorted(set(imports.values())), *constants.values(), *parts.values()]
    if name != "grade":
        body.append(
            "def grade(sample, item):\n"
            f"    result = {name}(sample, item)\n"
            "    if isinstance(result, tuple):\n"
            "        result = result[0]  # (score, reason)\n"
            "    return float(result)\n"
        )
    return "from __future__ import annotations\n\n" + "\n\n".join(b.rstrip("\n") for b in body) + "\n"


def _resolve(origin: str, label: str) -> types.FunctionType:
    module_name, _, qualname = origin.partition(":")
    if "<" in qualname:
        raise NotExportable(f"{label}: {origin} is defined inside a function or is a lambda; define it at module level")
    module = sys.modules.get(module_name)
    try:
        found: Any = module if module is not None else importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise NotExportable(f"{label}: cannot find {origin}: {exc}") from None
    found = inspect.unwrap(found)
    if not isinstance(found, types.FunctionType):
        raise NotExportable(f"{label}: {origin} is a {type(found).__name__}, not a function whose source can be sent")
    return found


def _collect(
    function: types.FunctionType,
    label: str,
    parts: dict[str, str],
    imports: dict[str, str],
    constants: dict[str, str],
    visiting: set[str],
) -> None:
    if function.__name__ in parts or function.__name__ in visiting:
        return
    visiting.add(function.__name__)
    parts[function.__name__] = _own_source(function, label)
    if function.__code__.co_freevars:
        names = ", ".join(sorted(function.__code__.co_freevars))
        raise NotExportable(f"{label}: {function.__qualname__} uses variables of an enclosing function ({names})")
    for name, value in sorted(_globals_used(function).items()):
        if isinstance(value, types.ModuleType):
            imports[name] = f"import {value.__name__}" + (f" as {name}" if name != value.__name__ else "")
        elif isinstance(value, types.FunctionType) and value.__module__ == function.__module__:
            _collect(value, label, parts, imports, constants, visiting)
        elif isinstance(value, re.Pattern):
            imports["re"] = "import re"
            constants[name] = f"{name} = re.compile({value.pattern!r}, {int(value.flags)})"
        elif _literal(value):
            constants[name] = f"{name} = {value!r}"
        else:
            raise NotExportable(
                f"{label}: {function.__qualname__} uses {name} ({type(value).__name__}) from its module, "
                "which cannot be written into a python grader's source"
            )


def _globals_used(function: types.FunctionType) -> dict[str, Any]:
    """The module globals ``function`` reads, also inside its comprehensions and nested functions.

    (``inspect.getclosurevars`` looks at the function's own code only, and would miss the
    pattern a generator expression in it uses.)
    """
    names: set[str] = set()
    codes = [function.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes += [const for const in code.co_consts if isinstance(const, types.CodeType)]
    scope = function.__globals__
    return {name: scope[name] for name in names if name in scope}


def _own_source(function: types.FunctionType, label: str) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        raise NotExportable(f"{label}: the source of {function.__qualname__} cannot be read") from None
    tree = ast.parse(source)
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef):
        raise NotExportable(f"{label}: {function.__qualname__} is not a plain def")
    lines = source.splitlines(keepends=True)
    return "".join(lines[node.lineno - 1 :])  # from the def on: decorators register it here, not there


def _literal(value: Any) -> bool:
    """Whether ``repr(value)`` rebuilds ``value`` (plain data only)."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return all(_literal(v) for v in value)
    if isinstance(value, dict):
        return all(_literal(k) and _literal(v) for k, v in value.items())
    return False


def exportable_types() -> Sequence[str]:
    """The spec types this module can export (OpenAI's and the local ones it reproduces)."""
    return [kind for kind in _EXPORTERS if kind != "pydantic_model"]
