Feature: Response cache
  Answers are recorded once and replayed offline; replay never touches the network.

  Background:
    Given the loopback model answers "yes" when asked about "question"
    And a feature file "cached.feature":
      """
      @samples:2
      Feature: Cached
        Scenario: q
          Given the model "m"
          When the user says "a question"
          Then the answer equals "yes"
      """

  Scenario: Record, then replay without the model
    When I run pytest
    Then 1 passed and 0 failed
    And the model received 2 requests
    Given the loopback model is switched off
    When I run pytest with "--llmeval-cache=replay --llmeval-report=json"
    Then 1 passed and 0 failed
    And the model received 0 requests
    And the JSON report's overall cache_hits is 2

  Scenario: A replay miss names the request and the closest entry
    When I run pytest
    Given a feature file "cached.feature":
      """
      @samples:2
      Feature: Cached
        Scenario: q
          Given the model "m"
          When the user says "another question"
          Then the answer equals "yes"
      """
    When I run pytest with "--llmeval-cache=replay"
    Then 0 passed and 1 failed
    And the model received 0 requests
    And the output shows:
      """
      *replay miss: no cached answer for model 'm', sample 0, user message 'another question'*
      *closest cached entry: *
      *differs in messages: wanted ?{"content": "another question", "role": "user"}?, cached ?{"content": "a question", "role": "user"}?
      """
