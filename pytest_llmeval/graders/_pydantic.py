"""The ``pydantic_model`` grader: the answer validates as the model the application parses it into.

When the application's own code does ``Order.model_validate_json(reply)``, grading with
that same class checks exactly what production needs — validators, constraints and
all — where a JSON Schema would only approximate it::

    g = pydantic_model("myapp.models:Order", base_dir=Path("features"))
    g(make_sample('{"sku": "A-1"}'), {}).reason
    # "answer does not validate as 'myapp.models:Order': quantity: Field required (1 error)"
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._base import (
    FunctionGrader,
    Grade,
    GraderConfigError,
    Item,
    Sample,
    _unfence,
    caller_dir,
    one_line,
    parse_json_answer,
    preview,
)
from ._imports import import_object

if TYPE_CHECKING:
    import pydantic

_ERRORS_IN_REASON = 3
_MAX_DETAILED_ERRORS = 20


def pydantic_model(model: type[pydantic.BaseModel] | str, *, base_dir: Path | None = None) -> FunctionGrader:
    """Pass when the answer's JSON validates as ``model`` (``model_validate_json``).

    ``model`` is the class or a ``"module:Model"`` string; the module is imported
    normally, else from ``base_dir`` (the feature file's or test module's folder). A
    fenced ```json block is unwrapped first. Validation runs in pydantic's JSON mode, as
    ``model_validate_json`` does in the application, so ``"2026-01-31"`` is a valid
    ``date`` and a strict model stays strict.
    """
    from pydantic import BaseModel, ValidationError

    if isinstance(model, str):
        resolved: Any = import_object(model, base_dir if base_dir is not None else caller_dir())
    else:
        resolved = model
    if not (isinstance(resolved, type) and issubclass(resolved, BaseModel)):
        raise GraderConfigError(
            f"pydantic_model: {model!r} is not a pydantic model class (got {type(resolved).__name__}); "
            "name a class that subclasses pydantic.BaseModel"
        )
    model_class: type[BaseModel] = resolved
    name = model if isinstance(model, str) else f"{model_class.__module__}:{model_class.__qualname__}"

    def grade(sample: Sample, item: Item) -> Grade:
        text = sample["output_text"]
        ok, _, note = parse_json_answer(text)
        if not ok:
            return Grade.check(
                "pydantic_model",
                False,
                f"expected JSON for {name!r}, got {preview(text)} ({note})",
                note=note,
            )
        stripped = text.strip()
        unfenced = _unfence(stripped)
        try:
            model_class.model_validate_json(unfenced if unfenced is not None else stripped)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            shown = "; ".join(
                f"{_loc(error['loc'])}: {one_line(error['msg'], 100)}" for error in errors[:_ERRORS_IN_REASON]
            )
            more = "1 error" if len(errors) == 1 else f"{len(errors)} errors"
            return Grade.check(
                "pydantic_model",
                False,
                f"answer does not validate as {name!r}: {shown} ({more})",
                note=note,
                error_count=len(errors),
                errors=[
                    {"loc": _loc(error["loc"]), "message": error["msg"], "type": error["type"]}
                    for error in errors[:_MAX_DETAILED_ERRORS]
                ],
            )
        return Grade.check("pydantic_model", True, f"answer validates as {name!r}", note=note)

    spec = {"type": "pydantic_model", "model": name, "schema": _schema_or_none(model_class)}
    return FunctionGrader(name="pydantic_model", spec=spec, fn=grade)


def _loc(loc: tuple[int | str, ...]) -> str:
    """``("items", 0, "sku")`` -> ``items.0.sku``; the model itself is ``(root)``."""
    return ".".join(str(part) for part in loc) or "(root)"


def _schema_or_none(model_class: type[pydantic.BaseModel]) -> dict[str, Any] | None:
    # The schema goes into the spec so that a changed model changes a baseline's
    # fingerprint; a model pydantic cannot describe still grades, without one.
    try:
        return model_class.model_json_schema()
    except Exception:
        return None
