"""Every option of the plugin, declared once, resolved once into a frozen :class:`Settings`.

Each option is a CLI flag ``--llmeval-NAME`` with an ini fallback ``llmeval_NAME``; the
CLI wins. Values are checked here so a mistake is one ``pytest.UsageError`` naming the
option, not a confusing failure in the middle of a run.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar

import pytest

from .parse import (
    boolean,
    non_negative_int,
    parse_shard,
    parse_threshold,
    positive_int,
    positive_number,
    positive_seconds,
    probability,
)
from .variants import PromptVariant, VariantError, parse_variants

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class CacheMode(enum.StrEnum):
    """How the response cache is used (as vcrpy's record modes)."""

    OFF = "off"
    """Neither read nor write: every sample goes to the model."""
    RECORD = "record"
    """Read an entry when present, else call the model and store the answer."""
    REPLAY = "replay"
    """Read only; never touch the network. A miss is an error for that sample."""
    REFRESH = "refresh"
    """Call the model for every sample and overwrite what is stored."""

    @classmethod
    def parse(cls, value: str, source: str) -> CacheMode:
        try:
            return cls(value.strip().lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise pytest.UsageError(f"{source}: unknown cache mode {value!r}; use one of: {valid}") from None


@dataclass(frozen=True)
class Settings:
    """The run's configuration after CLI, ini and environment are merged and checked."""

    model_override: str | None
    """``--llmeval-model``: replaces every model named in steps, tags and markers."""
    default_model: str | None
    """``llmeval_model`` in the ini file: used when a case names no model."""
    base_url: str
    """Where requests go; ``--llmeval-base-url``, ini, ``OPENAI_BASE_URL``, or OpenAI's."""
    base_url_is_custom: bool
    """True when the user pointed the run at another server (no API key needed then)."""
    samples: int
    """Default number of samples per case."""
    threshold: float
    """Default pass-rate threshold per case, 0 to 1."""
    timeout: float
    """Seconds before one request is abandoned."""
    max_retries: int
    """Retries per request on 429, 5xx, timeouts and dropped connections."""
    cache_mode: CacheMode
    cache_dir: Path
    reports: tuple[str, ...]
    """Report formats to write at the end (``json``, ``md``)."""
    report_dir: Path
    models: tuple[str, ...] = ()
    """Every ``--llmeval-model`` given: with two or more, each case runs on each model."""
    strict_stats: bool = False
    allow_inconclusive: bool = False
    max_samples: int = 30
    """The most samples an adaptive (``@samples:auto``) case draws."""
    baseline: Path | None = None
    save_baseline: Path | None = None
    alpha: float = 0.05
    fail_on_regression: bool = False
    min_pass_rate: float | None = None
    concurrency: int = 32
    """Requests in flight at once, across all xdist workers."""
    rpm: float | None = None
    """Requests per minute for the whole run, or None for no limit."""
    tpm: float | None = None
    """Tokens per minute for the whole run (estimated before, corrected after each call)."""
    judge_model: str | None = None
    """Model for judges that name none; a scenario's @judge: tag wins."""
    embedding_model: str | None = None
    """Embeddings model for cosine similarity."""
    max_cost: float | None = None
    """US dollars this run may spend on requests; then the rest errors with that reason."""
    prices_path: Path | None = None
    """A JSON price table that replaces built-in prices model by model."""
    rate_limit_timeout: float = 600.0
    """Seconds one request may wait on rate limits in all before it errors."""
    target_concurrency: int | None = None
    """Target calls at once (None: as many as ``concurrency``)."""
    cache_targets: bool = False
    """Whether targets' answers are cached (off: an application is not a pure function)."""
    unchecked: Literal["fail", "warn"] = "fail"
    """What a test whose ``llm.ask`` answer was never checked gets: a failure, or a warning."""
    max_error_rate: float = 0.0
    """The share of a case's samples that may error while the case still gets a pass/fail verdict."""
    min_decided: int = 1
    """Decided samples a case with errored samples needs for a verdict."""
    project_root: Path = Path(".")
    """The rootdir pytest would use without this plugin's option values: what case keys and
    report groups are relative to (see :func:`project_root`)."""
    paths_anywhere: bool = False
    """``--llmeval-allow-outside-paths``: a file named by a dataset value may lie outside the project."""
    prompt_variants: tuple[PromptVariant, ...] = ()
    """Every ``--llmeval-prompt-variant``: with two or more, each case runs once per variant."""
    shard: tuple[int, int] | None = None
    """``--llmeval-shard I/N``: run only the tests whose node id hashes to shard I of N."""
    max_tool_rounds: int = 5
    """``--llmeval-max-tool-rounds``: times a sample's tool calls are answered and the model
    asked again; a model still calling tools after that fails the sample."""


@dataclass(frozen=True)
class _Option:
    name: str
    help: str
    default: str | None
    metavar: str = "VALUE"
    flag: bool = False
    """A switch: ``--llmeval-NAME`` alone turns it on; the ini key takes true/false."""


_OPTIONS = (
    _Option(
        "model",
        "model for every case; the flag overrides steps, tags and markers, the ini key is the default",
        None,
        "MODEL",
    ),
    _Option("judge-model", "model for judges that name none (score_model, label_model)", None, "MODEL"),
    _Option(
        "embedding-model", "embeddings model for cosine similarity (default text-embedding-3-small)", None, "MODEL"
    ),
    _Option("base-url", "OpenAI-compatible server URL (default: $OPENAI_BASE_URL or OpenAI)", None, "URL"),
    _Option("samples", "default samples per case (default 1)", "1", "N"),
    _Option("threshold", "default pass-rate threshold per case, 0-1 (default 1.0)", "1.0", "P"),
    _Option("timeout", "seconds before a request is abandoned (default 60)", "60", "SECONDS"),
    _Option(
        "max-retries", "retries on 5xx, timeouts, dropped connections (default 2); rate limits do not count", "2", "N"
    ),
    _Option(
        "max-tool-rounds",
        "times a sample's tool calls are answered and the model asked again (default 5); then it fails",
        "5",
        "N",
    ),
    _Option(
        "rate-limit-timeout",
        "seconds one request may wait on rate limits in all before it errors (default 600)",
        "600",
        "SECONDS",
    ),
    _Option("concurrency", "requests in flight at once, across xdist workers (default 32)", "32", "N"),
    _Option(
        "target-concurrency", "target calls at once, across xdist workers (default: --llmeval-concurrency)", None, "N"
    ),
    _Option(
        "cache-targets",
        "cache the answers of targets too (default off: an application is not pure)",
        "false",
        flag=True,
    ),
    _Option("rpm", "requests per minute for the whole run (default: no limit)", None, "N"),
    _Option("tpm", "tokens per minute for the whole run (default: no limit)", None, "N"),
    _Option("max-cost", "stop sending requests once this run has spent USD (default: no limit)", None, "USD"),
    _Option("prices", "JSON file of model prices (USD per 1M tokens) replacing built-in ones", None, "FILE"),
    _Option("stats", "verdict rule: point (pass rate vs threshold) or strict (Wilson interval)", "point", "MODE"),
    _Option("allow-inconclusive", "inconclusive cases (strict stats) pass instead of failing", "false", flag=True),
    _Option(
        "max-error-rate",
        "share of a case's samples that may error and the case still be judged, 0-1 (default 0: any error is error)",
        "0",
        "P",
    ),
    _Option("min-decided", "decided samples a case with errored ones needs for a verdict (default 1)", "1", "N"),
    _Option("unchecked", "a test whose llm.ask answer is never checked: fail or warn (default fail)", "fail", "MODE"),
    _Option("max-samples", "most samples an adaptive case (@samples:auto) may draw (default 30)", "30", "N"),
    _Option("baseline", "compare with this baseline file (see docs/baselines.md)", None, "PATH"),
    _Option("save-baseline", "write this run's results as a baseline file", None, "PATH"),
    _Option("alpha", "significance level of the regression test (default 0.05)", "0.05", "A"),
    _Option("fail-on-regression", "exit 1 when a case regressed against the baseline", "false", flag=True),
    _Option("min-pass-rate", "exit 1 when fewer cases pass than this (per model), 0-1 or N%%", None, "P"),
    _Option("cache", "response cache mode: off, record, replay, refresh (default record)", "record", "MODE"),
    _Option("cache-dir", "response cache folder (default .llmeval-cache in the rootdir)", None, "DIR"),
    _Option(
        "allow-outside-paths",
        "files named by dataset values (a prompt file from <p>) may lie outside the project",
        "false",
        flag=True,
    ),
    _Option("report", "reports to write, comma-separated: {formats} (default none)", "", "FORMATS"),
    _Option("report-dir", "folder for reports (default llmeval-report in the rootdir)", None, "DIR"),
    _Option(
        "shard",
        "run shard I of N: the tests whose node id hashes to it; merge the shards' JSON reports after",
        None,
        "I/N",
    ),
)


def add_options(parser: pytest.Parser, report_formats: Sequence[str]) -> None:
    """Declare every flag and its ini twin in one ``llmeval`` group.

    ``report_formats``: the report writers there are (the reports package's table).
    """
    group = parser.getgroup("llmeval", "LLM evals (pytest-llmeval)")
    for opt in _OPTIONS:
        opt = replace(opt, help=opt.help.replace("{formats}", ", ".join(report_formats)))
        dest = "llmeval_" + opt.name.replace("-", "_")
        if opt.flag:
            group.addoption(
                f"--llmeval-{opt.name}", dest=dest, default=None, action="store_const", const="true", help=opt.help
            )
        else:
            # "append" for the model: several models run side by side.
            action = "append" if opt.name == "model" else "store"
            group.addoption(
                f"--llmeval-{opt.name}", dest=dest, default=None, metavar=opt.metavar, help=opt.help, action=action
            )
        parser.addini(dest, opt.help.replace("%%", "%"), default=opt.default)
    # Repeatable, and its ini key a list (one variant per line): not the one-value shape above.
    group.addoption(
        "--llmeval-prompt-variant",
        dest="llmeval_prompt_variant",
        action="append",
        default=None,
        metavar="NAME=PATH_OR_TEXT",
        help=_VARIANT_HELP,
    )
    parser.addini("llmeval_prompt_variants", _VARIANT_HELP + " (one per line)", type="linelist", default=[])


_VARIANT_HELP = (
    "swap every case's system prompt for a file's text or inline text (OLD.md=NEW.md: only the cases "
    "whose prompt file is OLD.md; NAME=: as written); repeat to run each case once per variant"
)


def _prompt_variants(config: pytest.Config) -> tuple[PromptVariant, ...]:
    """The CLI's variants (paths from the invocation folder), else the ini file's (from its folder)."""
    cli: list[str] = config.getoption("llmeval_prompt_variant") or []
    if cli:
        values, base, source = cli, Path(config.invocation_params.dir), "--llmeval-prompt-variant"
    else:
        values = [str(v) for v in config.getini("llmeval_prompt_variants") or []]
        base = config.inipath.parent if config.inipath else config.rootpath
        source = "ini option llmeval_prompt_variants" + (f" in {config.inipath}" if config.inipath else "")
    try:
        return parse_variants(values, base)
    except VariantError as exc:
        raise pytest.UsageError(f"{source}: {exc}") from None


def resolve(config: pytest.Config, report_formats: Sequence[str]) -> Settings:
    """Merge CLI, ini and environment into :class:`Settings`; raise UsageError on bad values."""
    raw = _Raw(config)
    base_url_cli = raw.text("base-url")
    base_url = base_url_cli or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    if not base_url.startswith(("http://", "https://")):
        raise pytest.UsageError(f"{raw.source('base-url')}: expected an http(s) URL, got {base_url!r}")
    cli_models: list[str] = config.getoption("llmeval_model") or []
    if len(set(cli_models)) != len(cli_models):
        raise pytest.UsageError(f"--llmeval-model: the same model is given twice: {cli_models}")
    cli_model = cli_models[0] if len(cli_models) == 1 else None
    unchecked = (raw.text("unchecked") or "fail").strip().lower()
    if unchecked not in ("fail", "warn"):
        raise pytest.UsageError(f"{raw.source('unchecked')}: unknown mode {unchecked!r}; use fail or warn")
    stats = (raw.text("stats") or "point").strip().lower()
    if stats not in ("point", "strict"):
        raise pytest.UsageError(f"{raw.source('stats')}: unknown mode {stats!r}; use point or strict")
    ini_model = config.getini("llmeval_model")
    reports = tuple(sorted({f.strip().lower() for f in (raw.text("report") or "").split(",") if f.strip()}))
    for fmt in reports:
        if fmt not in report_formats:
            raise pytest.UsageError(
                f"{raw.source('report')}: unknown report format {fmt!r}; use: {', '.join(report_formats)}"
            )
    return Settings(
        model_override=cli_model or None,
        default_model=ini_model or None,
        base_url=base_url.rstrip("/"),
        base_url_is_custom=base_url.rstrip("/") != DEFAULT_BASE_URL,
        samples=raw.parsed("samples", positive_int),
        threshold=raw.parsed("threshold", parse_threshold),
        timeout=raw.parsed("timeout", positive_seconds),
        max_retries=raw.parsed("max-retries", non_negative_int),
        max_tool_rounds=raw.parsed("max-tool-rounds", non_negative_int),
        cache_mode=CacheMode.parse(raw.text("cache") or "record", raw.source("cache")),
        cache_dir=raw.path("cache-dir", ".llmeval-cache"),
        reports=reports,
        report_dir=raw.path("report-dir", "llmeval-report"),
        judge_model=raw.text("judge-model"),
        embedding_model=raw.text("embedding-model"),
        models=tuple(cli_models),
        strict_stats=stats == "strict",
        allow_inconclusive=raw.parsed("allow-inconclusive", boolean),
        max_samples=raw.parsed("max-samples", positive_int),
        baseline=raw.path("baseline", "") if raw.text("baseline") else None,
        save_baseline=raw.path("save-baseline", "") if raw.text("save-baseline") else None,
        alpha=raw.parsed("alpha", probability),
        fail_on_regression=raw.parsed("fail-on-regression", boolean),
        min_pass_rate=raw.optional("min-pass-rate", parse_threshold),
        concurrency=raw.parsed("concurrency", positive_int),
        rpm=raw.optional("rpm", positive_number),
        tpm=raw.optional("tpm", positive_number),
        max_cost=raw.optional("max-cost", positive_number),
        prices_path=raw.path("prices", "") if raw.text("prices") else None,
        rate_limit_timeout=raw.parsed("rate-limit-timeout", positive_seconds),
        target_concurrency=raw.optional("target-concurrency", positive_int),
        cache_targets=raw.parsed("cache-targets", boolean),
        unchecked="warn" if unchecked == "warn" else "fail",
        max_error_rate=raw.parsed("max-error-rate", parse_threshold),
        min_decided=raw.parsed("min-decided", positive_int),
        project_root=project_root(config),
        paths_anywhere=raw.parsed("allow-outside-paths", boolean),
        prompt_variants=_prompt_variants(config),
        shard=raw.optional("shard", parse_shard),
    )


def project_root(config: pytest.Config) -> Path:
    """The rootdir pytest finds from the test paths alone, not from this plugin's option values.

    pytest determines its rootdir before plugins declare their options, so the value of
    ``--llmeval-save-baseline /abs/dir/b.json`` (space form, no ini file) counts as a path
    and moves the rootdir, and with it every case key: a baseline saved so would match
    nothing. Asked again with the arguments as parsed, pytest's own rule gives a root that
    does not move. Private API (``_pytest.config.findpaths``): if it changes, the rootdir.
    """
    try:
        from _pytest.config.findpaths import determine_setup

        root, *_ = determine_setup(
            inifile=config.option.inifilename,
            override_ini=config.option.override_ini,
            args=[str(arg) for arg in config.args],
            rootdir_cmd_arg=config.option.rootdir or None,
            invocation_dir=config.invocation_params.dir,
        )
    except Exception:
        return config.rootpath
    return Path(root)


class _Raw:
    """Reads one option from the CLI, else the ini file, remembering which it came from."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def _dest(self, name: str) -> str:
        return "llmeval_" + name.replace("-", "_")

    def from_cli(self, name: str) -> bool:
        return self.config.getoption(self._dest(name)) not in (None, [])

    def source(self, name: str) -> str:
        if self.from_cli(name):
            return f"--llmeval-{name}"
        where = f" in {self.config.inipath}" if self.config.inipath else ""
        return f"ini option {self._dest(name)}{where}"

    def text(self, name: str) -> str | None:
        value = self.config.getoption(self._dest(name))
        if value is None:
            value = self.config.getini(self._dest(name))
        return str(value) if value not in (None, "") else None

    def parsed(self, name: str, parse: Callable[[str], T]) -> T:
        value = self.text(name)
        assert value is not None, f"option {name} has a default"
        try:
            return parse(value)
        except ValueError as exc:
            raise pytest.UsageError(f"{self.source(name)}: {exc}") from None

    def optional(self, name: str, parse: Callable[[str], T]) -> T | None:
        return None if self.text(name) is None else self.parsed(name, parse)

    def path(self, name: str, default: str) -> Path:
        value = self.text(name)
        if value is None:
            return self.config.rootpath / default
        # A CLI path is relative to where pytest was started, an ini path to the ini file.
        if self.from_cli(name):
            base = Path(self.config.invocation_params.dir)
        else:
            base = self.config.inipath.parent if self.config.inipath else self.config.rootpath
        return (base / value).resolve()
