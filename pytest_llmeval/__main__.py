"""Command-line tools of pytest-llmeval: ``python -m pytest_llmeval COMMAND`` (see ``--help``).

::

    python -m pytest_llmeval convert-openai-eval support.json --items support.jsonl --out features/support
"""

from __future__ import annotations

import sys

from ._cli.main import main

if __name__ == "__main__":
    sys.exit(main())
