Feature: Generation before the tests: fast, within limits, every job accounted for

  Scenario: Each request is sent once, also across pytest-xdist workers
    Given the loopback model answers "ok" when asked about "question"
    And a file "features/rows.jsonl":
      """
      {"id": "a", "q": "question a"}
      {"id": "b", "q": "question b"}
      {"id": "c", "q": "question c"}
      {"id": "d", "q": "question d"}
      """
    And a feature file "many.feature":
      """
      @samples:3
      Feature: Many
        @dataset:rows.jsonl
        Scenario: s
          Given the model "m"
          When the user says "<q>"
          Then the answer equals "ok"
      """
    When I run pytest with "-n 2 --llmeval-cache=off"
    Then 4 passed and 0 failed
    And the model received 12 requests
    And the output shows:
      """
      requests: 12 planned, 0 from the cache, 12 sent*
      """

  Scenario: A budget stops new requests and says why
    Given the loopback model answers "ok" when asked about "question"
    And a file "prices.json":
      """
      {"m": {"input": 0, "output": 1000000}}
      """
    And a file "features/rows.jsonl":
      """
      {"id": "a", "q": "question a"}
      {"id": "b", "q": "question b"}
      {"id": "c", "q": "question c"}
      """
    And a feature file "budget.feature":
      """
      Feature: Budget
        @dataset:rows.jsonl
        Scenario: s
          Given the model "m"
          And the parameters:
            | max_tokens | 1 |
          When the user says "<q>"
          Then the answer equals "ok"
      """
    When I run pytest with "--llmeval-cache=off --llmeval-concurrency=1 --llmeval-max-cost=1.5 --llmeval-prices=prices.json"
    Then 1 passed and 2 failed
    And the output shows:
      """
      *ERROR: every sample errored: budget reached: this run spent $*
      """

  Scenario: A rate limit slows a run but never fails it
    Given the loopback model is rate limited 6 times with Retry-After 100 ms
    And the loopback model answers "ok" when asked about "question"
    And a file "features/rows.jsonl":
      """
      {"id": "a", "q": "question a"}
      {"id": "b", "q": "question b"}
      """
    And a feature file "limited.feature":
      """
      Feature: Limited
        @dataset:rows.jsonl
        Scenario: s
          Given the model "m"
          When the user says "<q>"
          Then the answer equals "ok"
      """
    When I run pytest with "--llmeval-cache=off --llmeval-max-retries=0"
    Then 2 passed and 0 failed
    And the model received 8 requests
    And the output shows:
      """
      requests: 2 planned*| 0 retries | 6 rate-limited (waited *
      """

  Scenario: A registered target is called before the tests, and needs no API key
    Given no API key is set
    And a file "conftest.py":
      """
      import pytest_llmeval

      @pytest_llmeval.target("shop-bot")
      async def shop_bot(case):
          return "We refund within 30 days."
      """
    And a feature file "bot.feature":
      """
      Feature: Bot
        Scenario: refund
          Given the target "shop-bot"
          When the user says "How long do I have?"
          Then the answer contains "30 days"
      """
    When I run pytest against OpenAI itself with "--llmeval-cache=off"
    Then 1 passed and 0 failed
    And the model received 0 requests
    And the output shows:
      """
      requests: 1 planned, 0 from the cache, 1 sent*
      """
