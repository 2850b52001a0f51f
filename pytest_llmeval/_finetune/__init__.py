"""Fine-tuning data out of a run, and back in: ``python -m pytest_llmeval finetune ...``.

- :mod:`.export`: a JSON report's cases as OpenAI chat-format SFT or DPO preference JSONL.
- :mod:`.validate`: a fine-tuning JSONL file checked as OpenAI would, with token counts
  (:mod:`.tokens`) and an estimated training cost.
- :mod:`.suite`: a suite's graders as OpenAI grader objects for reinforcement fine-tuning
  (the conversion itself is :mod:`pytest_llmeval.graders._export`, next to the registry).

Everything here reads files (a ``RunReport`` JSON, a JSONL file) or collects a suite with
pytest; nothing sends a request.
"""
