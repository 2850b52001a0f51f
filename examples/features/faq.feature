@samples:5 @threshold:0.8
Feature: The support assistant answers policy questions
  Customers ask about Acme's policies in the chat widget. The assistant answers from the
  policies in prompts/support.md, which is also told the customer's membership tier
  (its {{ tier }} placeholder is filled from the Examples row).

  Each question is asked 5 times at temperature 0.2. A case passes when at least 4 of
  the 5 answers are right (@threshold:0.8): one slip in five is the rate we tolerate on
  these questions today; two slips fail the build.

  Background:
    Given the system prompt from "prompts/support.md"
    And the temperature is 0.2

  Scenario Outline: policy facts
    When the user says "<question>"
    Then the answer contains "<fact>" in any case

    Examples:
      | id                  | tier  | question                                             | fact        |
      | refund-window       | guest | How long do I have to return something for a refund? | 30 days     |
      | express-cost        | guest | How much does express shipping cost?                 | $12         |
      | free-shipping-guest | guest | Do I get free shipping?                              | over $50    |
      | free-shipping-plus  | plus  | Do I get free shipping?                              | every order |

  Scenario Outline: shipping time is quoted in business days
    # Inside quotes a backslash escapes the next character: write a regex backslash twice.
    When the user says "How long does standard shipping take?"
    Then the answer matches the pattern "\b3\s*(-|–|to)\s*5 business days"
    And the answer does not contain "guarantee" in any case

    Examples:
      | id            | tier  |
      | shipping-time | guest |

  Scenario Outline: no order number, no made-up order status
    When the user says "Where is my package? I ordered a blender last week."
    Then the answer contains "order number" in any case
    And the answer does not contain "has shipped" in any case
    And the answer does not contain "on its way" in any case

    Examples:
      | id                 | tier  |
      | status-no-order-id | guest |

  Scenario Outline: a question the policies do not cover goes to a human
    # The wording varies from answer to answer; what matters is the hand-off. Cosine similarity
    # of two embeddings (llmeval_embedding_model in pytest.ini) compares what the texts say
    # rather than their exact words. It needs no extra package, unlike rouge_l or fuzzy_match.
    When the user says "Can I pay with PayPal?"
    Then the answer is similar to "I can't answer that from our policies, so I'll pass your question to a human agent. Live chat is open Monday to Friday, 9am to 6pm Eastern Time." by cosine at least 0.6
    And the answer passes "only-acme-links"

    Examples:
      | id             | tier  |
      | paypal-handoff | guest |
