@samples:3
Feature: Incoming chat messages are routed to the right queue
  Before the assistant answers, one short call picks the support queue, so that a billing
  problem reaches someone who can issue refunds. Code parses the label, so the answer must
  be exactly a queue name, every time (the default threshold is 1.0: 3 of 3 samples).

  Background:
    Given the system prompt:
      """
      You route customer messages for Acme's support team.
      Reply with exactly one word, the queue that should handle the message:
      orders, returns, billing, account or other.
      No punctuation, no explanation.
      """
    And the parameters:
      | name        | value |
      | temperature | 0     |
      | max_tokens  | 5     |

  Scenario Outline: clear-cut messages go to one queue
    When the user says "<message>"
    Then the answer equals "<queue>"

    Examples:
      | id             | message                                                    | queue   |
      | double-charge  | I was charged twice for order ACME-40988, please fix this. | billing |
      | password-reset | The password reset email never arrives and I can't log in. | account |
      | return-label   | Can you email me a return label for the lamp I bought?     | returns |

  Scenario: a damaged delivery may go to orders or returns
    When the user says "My blender arrived with a cracked jug. What now?"
    Then the answer is one of:
      | orders  |
      | returns |
