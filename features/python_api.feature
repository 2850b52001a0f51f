Feature: Evals without Gherkin: the llm fixture

  Scenario: ask and check with graders, under pytest-xdist too
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And a test module "test_refund.py":
      """
      import pytest
      from pytest_llmeval import graders

      @pytest.mark.llmeval(samples=3, model="gpt-4.1-mini")
      def test_refund(llm):
          llm.ask("How long for a refund?").check(graders.string_check(reference="30 days", operation="like"))
      """
    When I run pytest with "-n 2 --llmeval-report=json"
    Then 1 passed and 0 failed
    And the model received 3 requests
    And the JSON report has case "test_refund" with samples 3
    And the output shows:
      """
      test_refund.py*1/1 100.0%*
      overall*1/1 100.0%*
      """

  Scenario: A case declared in the marker is generated before the tests, once per request, and replayed
    Given the loopback model answers "You have 30 days." when asked about "refund"
    And a file "data/questions.jsonl":
      """
      {"id": "q1", "question": "How long for a refund?"}
      {"id": "q2", "question": "Is there a refund on sale items?"}
      {"id": "q3", "question": "Can I get a refund by card?"}
      """
    And a test module "test_declared.py":
      """
      import pytest
      from pytest_llmeval import graders

      @pytest.mark.llmeval(samples=2, model="gpt-4.1-mini", system="You are Acme's support bot.", prompt="{question}")
      @pytest.mark.llmeval_dataset("data/questions.jsonl")
      def test_refund(answer):
          answer.check(graders.string_check(reference="30 days", operation="like"))
      """
    When I run pytest with "-n 2 --llmeval-report=json"
    Then 3 passed and 0 failed
    And the model received 6 requests
    And the JSON report has case "test_refund[q2]" with samples 2
    And the output shows:
      """
      requests: 6 planned, 0 from the cache, 6 sent*
      """
    When I run pytest with "--llmeval-cache=replay"
    Then 3 passed and 0 failed
    And the model received 0 requests

  Scenario: A placeholder the dataset row does not have is one line naming the test and the field
    Given a file "data/questions.jsonl":
      """
      {"id": "q1", "question": "How long for a refund?"}
      """
    And a test module "test_declared.py":
      """
      import pytest
      from pytest_llmeval import graders

      @pytest.mark.llmeval(model="gpt-4.1-mini", prompt="Reply to {email}")
      @pytest.mark.llmeval_dataset("data/questions.jsonl")
      def test_reply(answer):
          answer.check(graders.string_check(reference="30 days", operation="like"))
      """
    When I run pytest
    Then the exit code is 1
    And the model received 0 requests
    And the output shows:
      """
      test_declared.py::test_reply[q1]: @pytest.mark.llmeval prompt: no field 'email' in the row (the row has: id, question)
      """
