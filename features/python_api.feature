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
