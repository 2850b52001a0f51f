Feature: Verdicts from pass rates and their Wilson intervals
  Every case's pass rate comes with a Wilson 95% interval. By default the verdict compares
  the pass rate with the threshold; --llmeval-stats=strict asks the whole interval to
  clear it, and a case whose interval straddles the threshold is inconclusive.
  The samples:auto tag draws rounds of 5 samples until the interval is clear of the threshold.

  Scenario: The failure message shows the interval
    Given the loopback model answers "You have 30 days." 4 times when asked about "refund"
    And the loopback model answers "Ask the shop." when asked about "refund"
    And a feature file "interval.feature":
      """
      @samples:5
      Feature: Interval
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-report=json"
    Then 0 passed and 1 failed
    And the JSON report has case "refund window" with verdict "fail"
    And the output shows:
      """
      *case 'refund window' on model 'gpt-4.1-mini': pass rate 4/5 = 80% (95% CI 38%-96%), threshold 100% -> FAIL
      """

  Scenario: Strict statistics: an interval that straddles the threshold is inconclusive
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And a feature file "strict.feature":
      """
      @samples:5 @threshold:0.6
      Feature: Strict
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest
    Then 1 passed and 0 failed
    When I run pytest with "--llmeval-stats=strict --llmeval-report=json"
    Then 0 passed and 1 failed
    And the JSON report has case "refund window" with verdict "inconclusive"
    And the output shows:
      """
      *case 'refund window' on model 'gpt-4.1-mini': pass rate 5/5 = 100% (95% CI 57%-100%), threshold 60% -> INCONCLUSIVE
      """
    When I run pytest with "--llmeval-stats=strict --llmeval-allow-inconclusive"
    Then 1 passed and 0 failed
    And the exit code is 0

  Scenario: In strict mode a threshold of 100% can never pass
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And a feature file "perfect.feature":
      """
      @samples:20
      Feature: Perfect
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-stats=strict"
    Then 0 passed and 1 failed
    And the output shows:
      """
      *pass rate 20/20 = 100% (95% CI 84%-100%), threshold 100% -> INCONCLUSIVE
      """

  Scenario: Adaptive sampling stops after 5 samples for an always-wrong model
    Given the loopback model answers "Ask the shop." when asked about "refund"
    And a feature file "adaptive.feature":
      """
      @samples:auto @threshold:0.8
      Feature: Adaptive
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-report=json"
    Then 0 passed and 1 failed
    And the model received 5 requests
    And the JSON report has case "refund window" with samples 5
    And the output shows:
      """
      *pass rate 0/5 = 0% (95% CI 0%-43%), threshold 80% -> FAIL
      """

  Scenario: Adaptive sampling needs 20 passing samples to clear a threshold of 80%
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And a feature file "adaptive.feature":
      """
      @samples:auto @threshold:0.8
      Feature: Adaptive
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-report=json"
    Then 1 passed and 0 failed
    And the model received 20 requests
    And the JSON report has case "refund window" with samples 20

  Scenario: Adaptive sampling stops at its maximum
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And a feature file "capped.feature":
      """
      @samples:auto:12 @threshold:0.8
      Feature: Capped
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-report=json"
    Then 1 passed and 0 failed
    And the model received 12 requests
    And the JSON report has case "refund window" with samples 12

  Scenario: The minimum pass rate gate fails the run with one line
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And the loopback model answers "About a week." when asked about "shipping"
    And a feature file "gate.feature":
      """
      Feature: Gate
        Scenario Outline: facts
          Given the model "gpt-4.1-mini"
          When the user says "<question>"
          Then the answer contains "<fact>"

          Examples:
            | id       | question               | fact    |
            | refund   | How long for a refund? | 30 days |
            | shipping | How long is shipping?  | 3 days  |
      """
    When I run pytest with "--llmeval-min-pass-rate=80%"
    Then 1 passed and 1 failed
    And the exit code is 1
    And the output shows:
      """
      llmeval gate failed: gpt-4.1-mini: 1/2 cases passed (50.0%), below --llmeval-min-pass-rate 80.0%
      """
