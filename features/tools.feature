Feature: Tool calls
  A model's answer can be a call of one of the tools it is offered. Tool steps grade
  what it called and with which arguments; a canned result answers a call, and the
  model is asked again, so the answer steps grade its final text.

  Background:
    Given a file "features/tools.json":
      """
      [{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}},
       {"type": "function", "function": {"name": "book_table",
        "parameters": {"type": "object", "properties": {"time": {"type": "string"}}}}}]
      """

  Scenario: The right tool with the right arguments passes; the wrong one fails and says what was called
    Given the loopback model calls "get_weather" with '{"city": "Paris"}' when asked about "weather"
    And a feature file "weather.feature":
      """
      Feature: Weather bot
        Background:
          Given the model "m"
          And the tools from "tools.json"
        Scenario: calls the weather tool
          When the user says "weather in Paris?"
          Then the model calls "get_weather" with arguments:
            \"\"\"
            {"city": "Paris"}
            \"\"\"
        Scenario: should book
          When the user says "weather, then book a table"
          Then the model calls "book_table"
      """
    When I run pytest
    Then 1 passed and 1 failed
    And the output shows:
      """
      *tool calls: get_weather({"city": "Paris"})
      *failed: tool_call: expected a call of 'book_table', got get_weather({"city": "Paris"})
      """

  Scenario: A canned result answers the call and the final answer is graded
    Given the loopback model answers "It is sunny in Paris." after a tool result
    And the loopback model calls "get_weather" with '{"city": "Paris"}' when asked about "weather"
    And a feature file "loop.feature":
      """
      Feature: Weather bot
        Scenario: answers from the tool
          Given the model "m"
          And the tools from "tools.json"
          And the tool "get_weather" returns "sunny, 21 C"
          When the user says "weather in Paris?"
          Then the model calls "get_weather"
          And the answer contains "sunny"
      """
    When I run pytest with "--llmeval-report=json"
    Then 1 passed and 0 failed
    And the model received 2 requests
    And the JSON report has case "answers from the tool" with tools [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}, {"type": "function", "function": {"name": "book_table", "parameters": {"type": "object", "properties": {"time": {"type": "string"}}}}}]
