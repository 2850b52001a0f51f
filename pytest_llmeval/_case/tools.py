"""Tool calls: the tools a case offers, and the loop that answers the model's calls.

A case may offer tools (an OpenAI ``tools`` array) and answer their calls: with a canned
result (``Given the tool "weather" returns "sunny"``) or a registered function run for real::

    @pytest_llmeval.tool("weather")
    def weather(city: str) -> str:          # called with the call's arguments
        return f"sunny in {city}"

When a case answers calls, each call of an answer gets a ``tool`` message with its result
and the model is asked again, up to ``--llmeval-max-tool-rounds`` times. Every request of
the loop is an ordinary :class:`ChatRequest` (its messages hold the calls and results), so
each round is cached, shared between xdist workers and priced like any answer; rounds
that only need canned results are planned before the tests (:class:`ToolChain`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from .._core.marked import MarkedFunctions
from .._core.records import Usage, jsonable
from .._core.request import ChatRequest, Generation, ToolCall
from .targets import origin

ToolFunction = Callable[..., Any]
"""A registered tool: called with the call's arguments as keywords; sync or async."""

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__llmeval_tool__"
CHOICES = ("auto", "required", "none")


class ToolsError(ValueError):
    """A tools array, a tool choice or a tool name that cannot be used as written."""


# ---- what a case offers ---------------------------------------------------------------------


def check_tools(value: Any) -> list[dict[str, Any]]:
    """``value`` when it is an OpenAI ``tools`` array of functions; else a ToolsError saying what is wrong."""
    shape = 'a JSON array of {"type": "function", "function": {"name": ..., "parameters": {...}}}'
    if not isinstance(value, list) or not value:
        raise ToolsError(f"the tools must be {shape}; got {type(value).__name__ if value != [] else 'an empty array'}")
    names: set[str] = set()
    for index, tool in enumerate(value):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            raise ToolsError(f"tool {index} is not {shape[10:]}")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise ToolsError(f"tool {index} has no function name")
        if name in names:
            raise ToolsError(f"tool {index}: the name {name!r} is given twice")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise ToolsError(f"tool {name!r}: parameters must be a JSON Schema object")
        names.add(name)
    return list(value)


def tool_names(tools: Sequence[Mapping[str, Any]] | None) -> list[str]:
    return [str(t["function"]["name"]) for t in tools or () if isinstance(t.get("function"), Mapping)]


def parameters_of(tools: Sequence[Mapping[str, Any]] | None, name: str) -> Mapping[str, Any] | None:
    """The JSON Schema of a tool's arguments (None when the tool gives none or is not offered)."""
    for tool in tools or ():
        function = tool.get("function")
        if isinstance(function, Mapping) and function.get("name") == name:
            parameters = function.get("parameters")
            return parameters if isinstance(parameters, Mapping) else {}
    return None


def check_name(name: str, tools: Sequence[Mapping[str, Any]] | None) -> None:
    """A ToolsError when tools are known and ``name`` is not one of them."""
    if tools is not None and name not in tool_names(tools):
        raise ToolsError(f"no tool {name!r} in the tools (they are: {', '.join(tool_names(tools))})")


def tool_choice(text: str, tools: Sequence[Mapping[str, Any]] | None) -> str | dict[str, Any]:
    """``auto``, ``required``, ``none``, or the name of one tool (forcing that tool)."""
    if text in CHOICES:
        return text
    if tools is None:
        raise ToolsError(f"tool choice {text!r}: give the tools first, or one of {', '.join(CHOICES)}")
    check_name(text, tools)
    return {"type": "function", "function": {"name": text}}


# ---- tool functions -------------------------------------------------------------------------


def tool(name: str) -> Callable[[F], F]:
    """Mark ``fn(**arguments)`` (sync or async) as the tool ``name``; return it unchanged.

    A case that offers a tool of that name runs the function on each call, sends its
    return value (a string as is, anything else as JSON) to the model, and asks again.
    """
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"a tool name must be a non-empty string without outer spaces, got {name!r}")

    def mark(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"tool {name!r}: expected a function, got {type(fn).__name__}")
        setattr(fn, _MARK, name)
        return fn

    return mark


class ToolRegistry:
    """The tool functions of one run: ``@tool`` functions of the project's modules and plugins."""

    def __init__(self, root: Path) -> None:
        self._tools: dict[str, ToolFunction] = {}
        self._conflicts: dict[str, str] = {}
        self._marked = MarkedFunctions(root, _MARK, self._found)

    def search_all(self, modules: Iterable[object]) -> None:
        self._marked.search_all(modules)

    def all(self) -> dict[str, ToolFunction]:
        """Every tool function; a name two functions claim is one whose every call fails, saying so."""
        self._marked.search_project()
        return {
            name: _taken(self._conflicts[name]) if name in self._conflicts else f for name, f in self._tools.items()
        }

    def _found(self, mark: Any, fn: Callable[..., Any]) -> None:
        if not isinstance(mark, str):
            return
        existing = self._tools.get(mark)
        if existing is not None and existing is not fn and origin(existing) != origin(fn):
            self._conflicts[mark] = f"tool name {mark!r} is taken by {origin(existing)} and {origin(fn)}"
        self._tools[mark] = fn


def _taken(problem: str) -> ToolFunction:
    def fails(**arguments: Any) -> Any:
        raise ValueError(problem)

    return fails


def run_function(fn: ToolFunction, call: ToolCall) -> ToolCall:
    """``call`` answered by ``fn``: its return value as the result, or the error it raised."""
    arguments = call.arguments
    if not isinstance(arguments, dict):
        error = f"the arguments are not a JSON object: {call.raw_arguments[:80]!r}"
        return replace(call, result=f"error: {error}", error=error)
    try:
        value = fn(**arguments)
        if inspect.isawaitable(value):
            value = _await(value)
    except Exception as exc:  # the model is told, the report shows it; the run goes on
        error = f"{type(exc).__name__}: {exc}"
        return replace(call, result=f"error: {error}", error=error)
    text = value if isinstance(value, str) else json.dumps(jsonable(value), ensure_ascii=False)
    return replace(call, result=text)


def _await(awaitable: Any) -> Any:
    """Run an async tool to its end from the test's thread (in a thread of its own if a loop runs here)."""

    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    box: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(asyncio.run(wait()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="llmeval-tool")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


# ---- the loop -------------------------------------------------------------------------------


def answer_calls(
    calls: Sequence[ToolCall], round: int, canned: Mapping[str, str], functions: Mapping[str, ToolFunction]
) -> tuple[list[ToolCall], str | None]:
    """Every call answered (a canned result first, else the tool function), or why one cannot be."""
    answered = []
    for call in calls:
        call = replace(call, round=round)
        if call.name in canned:
            answered.append(replace(call, result=canned[call.name]))
        elif call.name in functions:
            answered.append(run_function(functions[call.name], call))
        else:
            answered.append(call)
            return answered, (
                f'the model called {call.name!r}, which has no result: add \'Given the tool "{call.name}" '
                f'returns "..."\' or register @pytest_llmeval.tool("{call.name}")'
            )
    return answered, None


def next_request(request: ChatRequest, answer: Generation, answered: Sequence[ToolCall]) -> ChatRequest:
    """The request after a round: the answer's calls as the assistant's turn, then one result per call."""
    assistant: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text or None,
        "tool_calls": [call.openai() for call in answer.tool_calls],
    }
    results = [{"role": "tool", "tool_call_id": c.id, "content": c.result or ""} for c in answered]
    return replace(request, messages=(*request.messages, assistant, *results))


@dataclass
class _Sample:
    request: ChatRequest
    root: str | None
    rounds: list[Generation]
    calls: list[ToolCall] = field(default_factory=list)
    stopped: str | None = None
    done: bool = False


Generate = Callable[[Sequence[ChatRequest], Sequence[str | None]], list[Generation]]


def tool_loop(
    requests: Sequence[ChatRequest],
    firsts: Sequence[Generation],
    *,
    canned: Mapping[str, str],
    functions: Mapping[str, ToolFunction],
    max_rounds: int,
    generate: Generate,
    roots: Sequence[str | None] | None = None,
) -> list[Generation]:
    """Answer every sample's tool calls and ask again, round by round, all samples of a round at once.

    ``generate(requests, roots)`` is the engine's; ``roots``, the keys of the samples' first
    requests, let an xdist worker wait for a round the worker owning the sample planned.
    """
    samples = [
        _Sample(r, (roots or [None] * len(requests))[i], [g])
        for i, (r, g) in enumerate(zip(requests, firsts, strict=True))
    ]
    for round in range(1, max_rounds + 2):
        pending = []
        for sample in samples:
            last = sample.rounds[-1]
            if sample.done or last.error is not None or not last.tool_calls:
                sample.done = True
                continue
            if round > max_rounds:
                sample.calls.extend(replace(c, round=round - 1) for c in last.tool_calls)
                sample.stopped = (
                    f"the model was still calling tools after {max_rounds} round(s) of tool results "
                    "(--llmeval-max-tool-rounds)"
                )
                sample.done = True
                continue
            answered, problem = answer_calls(last.tool_calls, round - 1, canned, functions)
            sample.calls.extend(answered)
            if problem is not None:
                sample.stopped, sample.done = problem, True
                continue
            sample.request = next_request(sample.request, last, answered)
            pending.append(sample)
        if not pending:
            break
        for sample, generation in zip(
            pending, generate([s.request for s in pending], [s.root for s in pending]), strict=True
        ):
            sample.rounds.append(generation)
    return [_combined(s) for s in samples]


def _combined(sample: _Sample) -> Generation:
    """One sample's outcome over its rounds: the last answer, every call, the summed usage."""
    rounds = sample.rounds
    if len(rounds) == 1 and sample.stopped is None:
        return rounds[0]
    last = rounds[-1]
    error = next((g.error for g in rounds if g.error is not None), None)
    usage = Usage.of(sum(g.usage.prompt_tokens for g in rounds), sum(g.usage.completion_tokens for g in rounds))
    return Generation(
        text=None if error is not None else last.text,
        error=error,
        usage=usage,
        latency=sum(g.latency for g in rounds),
        cached=all(g.cached for g in rounds),
        finish_reason=last.finish_reason,
        response_model=last.response_model,
        tool_calls=tuple(sample.calls),
        stopped=sample.stopped,
    )


class ToolChain:
    """The tool rounds of one sample that can be known before the tests: those answered by canned results.

    Each round is a derived job of the previous one (:meth:`builder`); a round needing a
    tool function (run for real, in the test) or a call nobody answers is left to the test.
    """

    def __init__(self, first: ChatRequest, canned: Mapping[str, str]) -> None:
        self.canned = dict(canned)
        self.requests: dict[int, ChatRequest] = {0: first}

    def builder(self, round: int) -> Callable[[Generation], ChatRequest | None]:
        def build(answer: Generation) -> ChatRequest | None:
            previous = self.requests.get(round - 1)
            if previous is None or answer.error is not None or not answer.tool_calls:
                return None
            answered, problem = answer_calls(answer.tool_calls, round - 1, self.canned, {})
            if problem is not None:
                return None
            request = self.requests[round] = next_request(previous, answer, answered)
            return request

        return build


def tool_fields(
    tools: Any, choice: Any = None, results: Mapping[str, Any] | None = None, base_dir: Path | None = None
) -> dict[str, Any]:
    """The case fields of the Python forms' ``tools=``, ``tool_choice=``, ``tool_results=``.

    ``tools`` is a tools array or the path of a JSON file holding one (relative to
    ``base_dir``, the test module's folder); a ToolsError says what is wrong.
    """
    if tools is None:
        if choice is not None or results:
            raise ToolsError("tool_choice= and tool_results= need tools=")
        return {}
    if isinstance(tools, str | Path):
        path = (base_dir or Path.cwd()) / tools
        try:
            tools = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ToolsError(f"cannot read the tools file {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise ToolsError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    checked = check_tools(jsonable(tools))
    fields: dict[str, Any] = {"tools": checked}
    if choice is not None:
        fields["tool_choice"] = tool_choice(choice, checked) if isinstance(choice, str) else dict(choice)
    canned = dict(results or {})
    for name, value in canned.items():
        check_name(name, checked)
        canned[name] = value if isinstance(value, str) else json.dumps(jsonable(value), ensure_ascii=False)
    fields["tool_results"] = canned
    return fields
