Feature: Mistakes get one clear error that says where

  Scenario: An unknown step phrase lists the closest phrases
    Given a feature file "typo.feature":
      """
      Feature: Typo
        Scenario: s
          Given the model "m"
          When the user says "hi"
          Then the answer equal "hi"
      """
    When I run pytest
    Then 0 passed and 1 failed
    And the model received 0 requests
    And the output shows:
      """
      *features/typo.feature:5: unknown step: Then the answer equal "hi" (scenario 's')
      *closest phrases in pytest-llmeval's step library:
      *Then the answer equals "x"
      """

  Scenario: A placeholder with no value names the step and line
    Given a feature file "placeholder.feature":
      """
      Feature: Placeholder
        Scenario: s
          Given the model "m"
          When the user says "<email>"
          Then the answer is valid JSON
      """
    When I run pytest
    Then 0 passed and 1 failed
    And the output shows:
      """
      *features/placeholder.feature:4: When the user says "<email>": no value for <email> (the row has: none)
      """

  Scenario: A bad tag value stops collection with the file and line
    Given a feature file "tag.feature":
      """
      Feature: Tag
        @threshold:1.5
        Scenario: s
          Given the model "m"
          When the user says "hi"
          Then the answer equals "hi"
      """
    When I run pytest
    Then the exit code is 2
    And the output shows:
      """
      features/tag.feature:3: scenario 's': tag @threshold:1.5: expected a threshold between 0 and 1 (or 0%-100%), got '1.5'
      """

  Scenario: No API key stops the run once, with how to fix it
    Given no API key is set
    And a feature file "nokey.feature":
      """
      Feature: No key
        Scenario Outline: s
          Given the model "gpt-4.1-mini"
          When the user says "<q>"
          Then the answer equals "x"

          Examples:
            | q |
            | a |
            | b |
      """
    When I run pytest against OpenAI itself with "-q"
    Then the exit code is 4
    And the output shows:
      """
      *OPENAI_API_KEY is not set*
      *export OPENAI_API_KEY=*
      *--llmeval-base-url*
      *--llmeval-cache replay*
      """
