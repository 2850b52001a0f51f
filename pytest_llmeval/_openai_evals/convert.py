"""``python -m pytest_llmeval convert-openai-eval``: an exported eval as a feature file.

Items answered by the model go to ``<name>.jsonl`` and one scenario; items graded as they
are (a pre-generated sample) to ``<name>.pregenerated.jsonl``, with their samples in
``<name>.samples.jsonl``, and a second scenario whose target answers with them. The
test module that binds the feature comes from the template files beside this module.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

from .._case.placeholders import ANGLE
from .._case.tools import CHOICES, ToolsError, check_tools
from ..graders._templates import TEMPLATE
from .criteria import criteria_graders
from .definition import EvalDefinition, EvalDefinitionError, load_definition, message_text, read_text
from .items import EvalItem, embedded_items, load_items, mode
from .messages import split_messages


def convert(definition_path: Path, items_path: Path | None, out_dir: Path, *, force: bool = False) -> list[Path]:
    """Write a feature file, its datasets, the definition and a test module; return the paths.

    Items answered by the model go to ``<name>.jsonl`` and one scenario; items graded as
    they are (a pre-generated sample) to ``<name>.pregenerated.jsonl``, with their samples
    in ``<name>.samples.jsonl``, and a second scenario whose target answers with them.
    """
    definition = load_definition(definition_path)
    criteria_graders(definition)  # a criterion that cannot run fails now, not at the first test
    rows = load_items(items_path, definition) if items_path is not None else embedded_items(definition)
    stem = _slug(definition.name)
    generated = [row for row in rows if mode(definition, row) == "generate"]
    as_is = [row for row in rows if mode(definition, row) != "generate"]
    called = next((row for row in as_is if row.tool_calls), None)
    if called is not None:
        # The converted scenario answers from a target, which returns text only: the calls would be lost.
        raise EvalDefinitionError(
            f"{called.where}: a pre-generated sample with output_tools cannot become a feature-file "
            "scenario; run this eval with @pytest.mark.llmeval_openai_eval"
        )
    out = Path(out_dir)
    files: dict[Path, str] = {out / f"{stem}.eval.json": read_text(definition_path, "eval definition")}
    if generated:
        files[out / f"{stem}.jsonl"] = _jsonl(_with_id(row) for row in generated)
    if as_is:
        files[out / f"{stem}.pregenerated.jsonl"] = _jsonl(_with_id(row) for row in as_is)
        files[out / f"{stem}.samples.jsonl"] = _jsonl(
            {"id": row.case_id, "sample": {**(row.sample or {}), "output_text": row.text or ""}} for row in as_is
        )
    files[out / f"{stem}.feature"] = _feature(definition, stem, bool(generated), bool(as_is))
    files[out / f"test_{stem}.py"] = _test_module(definition.name, stem, bool(as_is))
    existing = [path for path in files if path.exists()]
    if existing and not force:
        raise EvalDefinitionError(f"{existing[0]} exists; pass --force to overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise EvalDefinitionError(f"cannot write to {out}: {exc}") from None
    return list(files)


def target_name(stem: str) -> str:
    """The target that answers a converted eval's pre-generated items with their samples."""
    return f"openai-eval:{stem}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "eval"


def _with_id(row: EvalItem) -> dict[str, Any]:
    return row.item if row.item.get("id") not in (None, "") else {"id": row.case_id, **row.item}


def _jsonl(rows: Any) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _feature(definition: EvalDefinition, stem: str, generated: bool, as_is: bool) -> str:
    name = " ".join(definition.name.split())
    criteria = f'the answer meets the testing criteria of "{stem}.eval.json"'
    lines = [
        f"# Converted from the OpenAI eval {name!r} by `python -m pytest_llmeval convert-openai-eval`.",
        f"# The testing criteria stay in {stem}.eval.json; the last step of each scenario applies them all.",
        f"Feature: {name}",
    ]
    if generated:
        lines += ["", f"  @dataset:{stem}.jsonl", f"  Scenario: {name}"]
        lines += _steps([*_generation_steps(definition), ("then", criteria, None)])
    if as_is:
        lines += ["", f"  @dataset:{stem}.pregenerated.jsonl @target:{target_name(stem)} @samples:1"]
        lines += [f"  Scenario: {name} (pre-generated samples)"]
        model: list[Step] = [("given", f"the model {_quote(definition.model)}", None)] if definition.model else []
        when: Step = ("when", 'the user says "pre-generated sample of item <id>"', None)
        lines += _steps([*model, when, ("then", criteria, None)])
    return "\n".join(lines) + "\n"


Step = tuple[str, str, list[str] | None]  # kind, text, lines of a docstring or table below it


def _generation_steps(definition: EvalDefinition) -> list[Step]:
    source = definition.data_source
    assert source is not None and source.input_messages is not None
    if source.input_messages.type != "template":
        raise EvalDefinitionError(
            f"{definition.path}: $.data_source.input_messages: an item_reference (each item's own "
            "conversation) cannot become fixed steps; run this eval with @pytest.mark.llmeval_openai_eval"
        )
    where = "$.data_source.input_messages.template"
    messages = [
        {"role": m.role, "content": _placeholders(definition, message_text(m.content, definition.path, where), where)}
        for m in source.input_messages.template or []
    ]
    system, history, user = split_messages(messages)
    steps: list[Step] = []
    if source.model:
        steps.append(("given", f"the model {_quote(source.model)}", None))
    params = definition.sampling_params()
    steps += _tool_steps(definition, params)
    if params:
        rows = [["name", "value"]] + [[key, json.dumps(value, ensure_ascii=False)] for key, value in params.items()]
        steps.append(("given", "the parameters:", _table([[c, _escape_angle(v)] for c, v in rows])))
    if system is not None:
        steps.append(("given", "the system prompt:", _docstring(system)))
    if history:
        rows = [["role", "content"]] + [[str(m["role"]), str(m["content"])] for m in history]
        steps.append(("given", "the conversation:", _table(rows)))
    steps.append(("when", "the user says:", _docstring(user)))
    return steps


def _tool_steps(definition: EvalDefinition, params: dict[str, Any]) -> list[Step]:
    """``tools`` and ``tool_choice`` as the tool steps (taken out of ``params``), not as raw parameters.

    As raw parameters they would reach the server too, but the case would not know its
    tools: the report would not list them and a tool grader could not check a call's
    arguments against its schema. The marker passes them as ``tools=`` and ``tool_choice=``,
    so both send the same request under the same cache key.
    """
    tools = params.pop("tools", None)
    if tools is None:
        return []
    problem = None
    try:
        check_tools(tools)
    except ToolsError as exc:
        problem = f"{definition.path}: $.data_source.sampling_params.tools: {exc}"
    if problem is not None:
        raise EvalDefinitionError(problem)
    steps: list[Step] = [("given", "the tools:", _docstring(_escape_angle(json.dumps(tools, indent=2))))]
    choice = params.get("tool_choice")
    function = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    if isinstance(choice, str) and choice in CHOICES:
        name = choice
    elif isinstance(function, dict) and set(choice or {}) == {"type", "function"} and set(function) == {"name"}:
        name = str(function["name"])
    else:
        return steps  # another shape (or none) stays a raw parameter, sent as it is
    del params["tool_choice"]
    return [*steps, ("given", f"the tool choice is {_quote(_escape_angle(name))}", None)]


def _placeholders(definition: EvalDefinition, text: str, where: str) -> str:
    """``{{item.x}}`` as the step library's ``<x>``; a literal ``<x>`` escaped as ``\\<x>``."""

    def placeholder(match: re.Match[str]) -> str:
        parts = match.group(1).split(".")
        name = parts[1:] if parts[0] == "item" else parts
        if len(name) != 1 or not re.fullmatch(r"[A-Za-z_][\w-]*", name[0]):
            raise EvalDefinitionError(
                f"{definition.path}: {where}: {match.group(0)} cannot become a feature-file placeholder "
                "(only {{item.NAME}} can); run this eval with @pytest.mark.llmeval_openai_eval"
            )
        return f"<{name[0]}>"

    return TEMPLATE.sub(placeholder, _escape_angle(text))


def _escape_angle(text: str) -> str:
    return ANGLE.sub(lambda match: "\\" + match.group(0), text)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _docstring(text: str) -> list[str]:
    fence = next((f for f in ('"""', "```") if f not in text), None)
    if fence is None:
        raise EvalDefinitionError('a message holds both """ and ``` and cannot become a Gherkin docstring')
    return [fence, *text.split("\n"), fence]


def _table(rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")

    cells = [[cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    # Gherkin strips cells, so padding only lines the columns up.
    return ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]


def _steps(steps: list[Step]) -> list[str]:
    lines = []
    previous = None
    for kind, text, below in steps:
        keyword = "And" if kind == previous else kind.capitalize()
        previous = kind
        lines.append(f"    {keyword} {text}")
        lines += [f"      {line}" if line else "" for line in below or []]
    return lines


def _test_module(name: str, stem: str, as_is: bool) -> str:
    template = "test_module_samples.py.tmpl" if as_is else "test_module.py.tmpl"
    text = files(__package__).joinpath(template).read_text(encoding="utf-8")
    # Shown in the module's docstring: quotes and backslashes escaped, so no name can end it.
    shown = repr(name).replace("\\", "\\\\").replace('"', '\\"')
    return Template(text).substitute(name=shown, stem=stem, target=target_name(stem))
