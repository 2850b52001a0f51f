"""Prompt variants: ``--llmeval-prompt-variant NAME=PATH_OR_TEXT``, parsed once, applied per case.

::

    pytest --llmeval-prompt-variant terse=prompts/terse.md --llmeval-prompt-variant warm="Be warm."
    pytest --llmeval-prompt-variant current= --llmeval-prompt-variant support.md=prompts/support_v2.md

Three forms (see docs/prompt-variants.md):

- ``NAME=PATH`` or ``NAME=TEXT``: every case's system prompt becomes the file's text (an
  existing file, relative to where pytest was started, or to the ini file for the ini key)
  or the inline text; a case without a system prompt gets this one.
- ``OLD.md=NEW.md``: only cases whose system prompt came from a file named ``OLD.md``
  (``Given the system prompt from "..."``) get ``NEW.md``'s text; the variant is named
  after ``NEW.md``'s stem. Other cases run as written.
- ``NAME=`` (nothing after ``=``): every case as written, the control arm of a comparison.

Nothing here reads a case: :class:`PromptVariant` only says what a case's system prompt
becomes (:meth:`PromptVariant.swap`); the case applies it when it builds its messages, so
the planner and the test send the same swapped prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""A variant's name: it ends case ids (``case@NAME``) and pytest ids, so no ``@``, ``[``, spaces."""
_FILE_LIKE = re.compile(r"(?:^|/)[^/\s]*\.[A-Za-z][A-Za-z0-9]{0,7}$")
"""A word that names a file: a path or a name with an extension such as ``support.md``."""


class VariantError(ValueError):
    """A prompt variant that cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class PromptVariant:
    """One prompt variant: its name and what the system prompt of the cases it applies to becomes."""

    name: str
    text: str | None
    """The system prompt it puts in place; None for the control arm (every case as written)."""
    source: str
    """Where the text came from, as a report shows it: a file path, ``inline text``, ``as written``."""
    replaces: str | None = None
    """``OLD.md`` of ``OLD.md=NEW.md``: only a case whose prompt file is named so is swapped."""

    def applies_to(self, system_file: str | None) -> bool:
        """Whether a case whose system prompt came from ``system_file`` (None: not from a file) is swapped."""
        if self.text is None:
            return False
        if self.replaces is None:
            return True
        if system_file is None:
            return False
        wanted = PurePath(self.replaces).parts
        return PurePath(system_file).parts[-len(wanted) :] == wanted

    def swap(self, system: str | None, system_file: str | None) -> str | None:
        """The case's system prompt under this variant (``system`` itself when it does not apply)."""
        return self.text if self.applies_to(system_file) and self.text is not None else system

    def describe(self) -> str:
        """One line for reports: what this variant changes."""
        if self.text is None:
            return "each case's own prompt"
        if self.replaces is not None:
            return f"{self.replaces} -> {self.source}"
        return self.source


def parse_variants(values: Sequence[str], base: Path) -> tuple[PromptVariant, ...]:
    """Every variant of the option's values; files are read relative to ``base``.

    Raises :class:`VariantError` for a malformed value, an unreadable or missing file, or
    two variants of the same name.
    """
    variants: list[PromptVariant] = []
    seen: dict[str, str] = {}
    for raw in values:
        variant = parse_variant(raw, base)
        if variant.name in seen:
            raise VariantError(
                f"two prompt variants are named {variant.name!r} ({seen[variant.name]!r} and {raw!r}); "
                "give each its own NAME="
            )
        seen[variant.name] = raw
        variants.append(variant)
    return tuple(variants)


def parse_variant(raw: str, base: Path) -> PromptVariant:
    """One ``NAME=PATH_OR_TEXT``, ``OLD.md=NEW.md`` or ``NAME=`` value."""
    left, equals, right = raw.partition("=")
    left = left.strip()
    if not equals or not left:
        raise VariantError(f"{raw!r}: expected NAME=PATH_OR_TEXT, OLD.md=NEW.md or NAME= (see docs/prompt-variants.md)")
    if _FILE_LIKE.search(left):
        new = right.strip()
        if not new:
            raise VariantError(f"{raw!r}: OLD.md=NEW.md needs the new prompt file after '='")
        path = base / new
        name = PurePath(new).stem
        if not NAME.fullmatch(name):
            raise VariantError(f"{raw!r}: the file name {new!r} does not make a variant name; rename the file")
        return PromptVariant(name=name, text=_read(path, raw), source=new, replaces=left)
    if not NAME.fullmatch(left):
        raise VariantError(
            f"{raw!r}: a variant name is letters, digits, '_', '-' and '.' (it ends case ids as case@NAME), "
            f"got {left!r}"
        )
    if right == "":
        return PromptVariant(name=left, text=None, source="as written")
    candidate = base / right.strip()
    if _is_file(candidate):
        return PromptVariant(name=left, text=_read(candidate, raw), source=right.strip())
    if _FILE_LIKE.search(right.strip()) and not any(c.isspace() for c in right.strip()):
        # A typo in a path must not become a one-word system prompt.
        raise VariantError(
            f"{raw!r}: prompt file not found: {candidate} (inline text is taken only when it names no file)"
        )
    return PromptVariant(name=left, text=right, source=f"inline text ({len(right)} chars)")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a long inline text is not a path the system can stat
        return False


def _read(path: Path, raw: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VariantError(f"{raw!r}: prompt file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise VariantError(f"{raw!r}: the prompt file {path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise VariantError(f"{raw!r}: cannot read the prompt file {path}: {exc.strerror or exc}") from None
