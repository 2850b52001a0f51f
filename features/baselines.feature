Feature: Baselines and the regression gate
  --llmeval-save-baseline writes every case's counts; --llmeval-baseline compares a later
  run with them, and --llmeval-fail-on-regression fails the run when a case got
  significantly worse. A baseline that cannot be read is a usage error, never "no regressions".

  Scenario: Save a baseline, then a regression fails the gate with one line
    Given the loopback model answers "You have 30 days." 14 times when asked about "refund"
    And the loopback model answers "Ask the shop." when asked about "refund"
    And a feature file "refund.feature":
      """
      @samples:10 @threshold:0.4
      Feature: Refunds
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-cache=off --llmeval-save-baseline=baselines/main.json"
    Then 1 passed and 0 failed
    And the model received 10 requests
    And the output shows:
      """
      baseline written: */baselines/main.json
      """
    When I run pytest with "--llmeval-cache=off --llmeval-baseline=baselines/main.json --llmeval-fail-on-regression"
    Then 1 passed and 0 failed
    And the exit code is 1
    And the output shows:
      """
      baseline */baselines/main.json: 1 regressed, 0 improved, 0 unchanged, 0 new, 0 removed, 0 redefined
        suite: 1 shared cases, mean pass-rate change -60.0%, paired sign test p = 0.5000
        regressed: refund window on gpt-4.1-mini: 10/10 -> 4/10 p = 0.0054
      llmeval gate failed: 1 case(s) regressed against */baselines/main.json; suite paired p = 0.5000 (alpha 0.05)
      """

  Scenario: Without the gate option a regression is reported but does not fail the run
    Given the loopback model answers "You have 30 days." 14 times when asked about "refund"
    And the loopback model answers "Ask the shop." when asked about "refund"
    And a feature file "refund.feature":
      """
      @samples:10 @threshold:0.4
      Feature: Refunds
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-cache=off --llmeval-save-baseline=baselines/main.json"
    And I run pytest with "--llmeval-cache=off --llmeval-baseline=baselines/main.json"
    Then 1 passed and 0 failed
    And the exit code is 0
    And the output shows:
      """
      *regressed: refund window on gpt-4.1-mini: 10/10 -> 4/10 p = 0.0054
      """

  Scenario: A changed case is flagged as redefined
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And a feature file "refund.feature":
      """
      Feature: Refunds
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-save-baseline=baselines/main.json"
    Given a feature file "refund.feature":
      """
      Feature: Refunds
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How many days do I have for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-baseline=baselines/main.json"
    Then 1 passed and 0 failed
    And the output shows:
      """
      baseline */baselines/main.json: 0 regressed, 0 improved, 1 unchanged, 0 new, 0 removed, 1 redefined
        unchanged (redefined): refund window on gpt-4.1-mini: 1/1 -> 1/1
      """

  Scenario: A damaged baseline is a usage error
    Given a file "baselines/main.json":
      """
      {"format": 1, "plugin_version": "0.1.0", "entries": {
      """
    And a feature file "refund.feature":
      """
      Feature: Refunds
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-baseline=baselines/main.json --llmeval-fail-on-regression"
    Then the exit code is 4
    And the model received 0 requests
    And the output shows:
      """
      ERROR: --llmeval-baseline: */baselines/main.json:2: the baseline is not valid JSON (*); re-save it
      """

  Scenario: A baseline written by another version of the plugin is a usage error
    Given a file "baselines/main.json":
      """
      {"format": 1, "plugin_version": "0.0.1", "created_at": "2026-01-01T00:00:00Z", "entries": {}}
      """
    And a feature file "refund.feature":
      """
      Feature: Refunds
        Scenario: refund window
          Given the model "gpt-4.1-mini"
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-baseline=baselines/main.json"
    Then the exit code is 4
    And the output shows:
      """
      ERROR: --llmeval-baseline: */baselines/main.json: written by pytest-llmeval 0.0.1, this is *; re-save it with --llmeval-save-baseline (see docs/baselines.md)
      """
