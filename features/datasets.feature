Feature: Datasets: one test per row

  Scenario: A JSONL dataset fills placeholders and names cases by id
    Given the loopback model answers "{"sku": "A-1", "quantity": 2}" when asked about "A-1"
    And the loopback model answers "{"sku": "B-2", "quantity": 5}" when asked about "B-2"
    And a file "features/golden/orders.jsonl":
      """
      {"id": "two-a1", "email": "Please send 2 x A-1", "quantity": 2}
      {"id": "four-b2", "email": "I need four B-2", "quantity": 4}
      """
    And a feature file "extraction.feature":
      """
      Feature: Extraction
        @dataset:golden/orders.jsonl
        Scenario: order
          Given the model "m"
          When the user says "<email>"
          Then the answer is valid JSON
          And the JSON at "/quantity" equals <quantity>
      """
    When I run pytest with "--llmeval-report=json"
    Then 1 passed and 1 failed
    And the JSON report has case "order[two-a1]" with verdict "pass"
    And the JSON report has case "order[four-b2]" with verdict "fail"

  Scenario: A malformed dataset line is one collection error
    Given a file "features/rows.jsonl":
      """
      {"id": "a", "q": "fine"}
      {"id": "b", "q": oops}
      """
    And a feature file "broken.feature":
      """
      Feature: Broken
        @dataset:rows.jsonl
        Scenario: s
          Given the model "m"
          When the user says "<q>"
          Then the answer is valid JSON
      """
    When I run pytest
    Then the exit code is 2
    And the output shows:
      """
      *rows.jsonl:2: malformed JSON line: Expecting value (column 18)
      """
