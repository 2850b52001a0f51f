Feature: Several models side by side
  Giving --llmeval-model more than once runs every case on each model. A case's id names
  its model (case@model), and the llmeval section compares the models case by case.

  Scenario: Two models: case ids, the models section and the paired comparison
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And the loopback model answers "About a week." when asked about "shipping"
    And a feature file "support.feature":
      """
      Feature: Support bot
        Scenario Outline: facts
          Given the model "gpt-4.1-mini"
          When the user says "<question>"
          Then the answer contains "<fact>"

          Examples:
            | id       | question               | fact    |
            | refund   | How long for a refund? | 30 days |
            | shipping | How long is shipping?  | 3 days  |
      """
    When I run pytest with "--llmeval-model=ft:gpt-4.1-mini:acme:support:7p4lURel --llmeval-model=gpt-4.1-mini --llmeval-report=json"
    Then 2 passed and 2 failed
    And the model received 4 requests
    And the JSON report has case "facts[refund]@gpt-4.1-mini" with model "gpt-4.1-mini"
    And the JSON report has case "facts[refund]@ft:gpt-4.1-mini:acme:support:7p4lURel" with model "ft:gpt-4.1-mini:acme:support:7p4lURel"
    And the JSON report has case "facts[shipping]@gpt-4.1-mini" with verdict "fail"
    And the output shows:
      """
      *case 'facts?shipping?@gpt-4.1-mini' on model 'gpt-4.1-mini': pass rate 0/1 = 0% (95% CI 0%-79%), threshold 100% -> FAIL
      models side by side (case pass rate with 95% interval; tokens; cost; request seconds):
        ft:gpt-4.1-mini:acme:support:7p4lURel: 1/2 50.0% ?9.5%, 90.5%? | * tokens | $* | *s
        gpt-4.1-mini: 1/2 50.0% ?9.5%, 90.5%? | * tokens | $* | *s
        gpt-4.1-mini vs ft:gpt-4.1-mini:acme:support:7p4lURel: 2 shared cases, mean difference +0.0%, better on 0, worse on 0, sign test p = 1.0000
      """

  Scenario: The same model twice is a usage error
    Given a feature file "support.feature":
      """
      Feature: Support bot
        Scenario: refund
          When the user says "How long for a refund?"
          Then the answer contains "30 days"
      """
    When I run pytest with "--llmeval-model=gpt-4.1-mini --llmeval-model=gpt-4.1-mini"
    Then the exit code is 4
    And the output shows:
      """
      ERROR: --llmeval-model: the same model is given twice: ['gpt-4.1-mini', 'gpt-4.1-mini']
      """
