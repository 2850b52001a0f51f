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
      {"m": {"input": 1000000, "output": 0}}
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
          When the user says "<q>"
          Then the answer equals "ok"
      """
    When I run pytest with "--llmeval-cache=off --llmeval-concurrency=1 --llmeval-max-cost=2 --llmeval-prices=prices.json"
    Then 1 passed and 2 failed
    And the output shows:
      """
      *ERROR: every sample errored: budget reached: this run spent $*
      """
