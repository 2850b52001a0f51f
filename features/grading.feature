Feature: Grading answers with the step library
  A scenario is one case; every sample is graded by every Then step; the case passes
  when its pass rate reaches the threshold.

  Scenario: A passing and a failing case, with a readable failure
    Given the loopback model answers "You have 30 days to ask for a refund." when asked about "refund"
    And the loopback model answers "Shipping takes about a week." when asked about "shipping"
    And a feature file "support.feature":
      """
      Feature: Support bot
        Scenario Outline: facts
          Given the model "gpt-4.1-mini"
          When the user says "<question>"
          Then the answer contains "<fact>" in any case

          Examples:
            | id       | question               | fact    |
            | refund   | How long for a refund? | 30 DAYS |
            | shipping | How long is shipping?  | 3 days  |
      """
    When I run pytest
    Then 1 passed and 1 failed
    And the output shows:
      """
      *case 'facts?shipping?' on model 'gpt-4.1-mini': pass rate 0/1 = 0% (95% CI 0%-79%), threshold 100% -> FAIL
      *sample 0: FAIL
      *answer: 'Shipping takes about a week.'
      *failed: string_check: expected answer to contain '3 days' (any case), got 'Shipping takes about a week.'
      """

  Scenario: A threshold lets a few samples fail
    Given the loopback model answers "30 days" 4 times when asked about "refund"
    And the loopback model answers "two weeks" when asked about "refund"
    And a feature file "threshold.feature":
      """
      @samples:5 @threshold:0.8
      Feature: Noisy model
        Scenario: refund
          Given the model "m"
          When the user says "refund window?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-report=json"
    Then 1 passed and 0 failed
    And the model received 5 requests
    And the JSON report has case "refund" with passes 4
    And the JSON report has case "refund" with pass_rate 0.8

  Scenario: A model answer that is not JSON is a failed grade, not a crash
    Given the loopback model answers "Sure! Here is your order." when asked about "order"
    And a feature file "json.feature":
      """
      Feature: Extraction
        Scenario: order
          Given the model "m"
          When the user says "order: 2 x A-1"
          Then the answer is valid JSON
          And the JSON at "/quantity" equals 2
      """
    When I run pytest
    Then 0 passed and 1 failed
    And the output shows:
      """
      *failed: valid_json: expected valid JSON, got 'Sure! Here is your order.'*
      """

  Scenario: An errored request is an error, never a pass or a fail
    Given the loopback model fails with HTTP 500
    And a feature file "down.feature":
      """
      Feature: Down
        Scenario: anything
          Given the model "m"
          When the user says "hello"
          Then the answer does not contain "goodbye"
      """
    When I run pytest with "--llmeval-max-retries=0 --llmeval-report=json"
    Then 0 passed and 1 failed
    And the JSON report has case "anything" with verdict "error"
    And the output shows:
      """
      *ERROR: every sample errored: HTTP 500:*
      """
