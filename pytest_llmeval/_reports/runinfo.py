"""The run metadata a report carries: which models, which options, when, on what.

Only options that shape verdicts or cost, as the user set them: no API key, no header, no
organisation, and a base URL without any user or password in it.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import pytest

from .._config.options import Settings
from .._core.records import EvalRecord, RunInfo


def _url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def options(settings: Settings) -> dict[str, str]:
    """The verdict-shaping options by their flag names; unset ones left out."""
    values: dict[str, object] = {
        "base-url": _url(settings.base_url),
        "samples": settings.samples,
        "threshold": settings.threshold,
        "stats": "strict" if settings.strict_stats else "point",
        "allow-inconclusive": settings.allow_inconclusive or None,
        "max-error-rate": settings.max_error_rate or None,
        "min-decided": settings.min_decided if settings.min_decided != 1 else None,
        "cache": settings.cache_mode.value,
        "judge-model": settings.judge_model,
        "baseline": settings.baseline,
        "alpha": settings.alpha,
        "fail-on-regression": settings.fail_on_regression or None,
        "min-pass-rate": settings.min_pass_rate,
        "max-cost": settings.max_cost,
        "prompt-variant": ", ".join(v.name for v in settings.prompt_variants) or None,
        "shard": f"{settings.shard[0]}/{settings.shard[1]}" if settings.shard else None,
    }
    return {name: str(value) for name, value in values.items() if value is not None}


def run_info(settings: Settings, started: float, records: Sequence[EvalRecord]) -> RunInfo:
    """The ``run`` field of the report; ``started`` is the session's start (``time.time()``)."""
    seen = list(dict.fromkeys(settings.models)) + [r.model for r in records]
    return RunInfo(
        models=[m for m in dict.fromkeys(seen) if m],
        options=options(settings),
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        duration_s=round(time.time() - started, 3),
        python=platform.python_version(),
        pytest=pytest.__version__,
        shards=[f"{settings.shard[0]}/{settings.shard[1]}"] if settings.shard else [],
    )
