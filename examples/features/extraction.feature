Feature: Order tickets are extracted from customer emails
  The support inbox turns each email into a ticket for the order system
  (prompts/extract.md), with OpenAI's structured outputs on. There is one case per row of
  golden/orders.jsonl, whose fields fill <email>, <order_id>, <sku>, ... in the steps.

  One sample per email at temperature 0, and every email must come out right: a wrong
  ticket sends a parcel to the wrong place.

  Background:
    Given the system prompt from "prompts/extract.md"
    And the temperature is 0
    And the response format is the JSON schema "schemas/order.json"

  @dataset:golden/orders.jsonl
  Scenario: extract the ticket
    When the user says "<email>"
    Then the answer is valid JSON
    And the answer matches the JSON schema "schemas/order.json"
    And the answer validates as "support_models:Order"
    And the JSON at "/order_id" equals "<order_id>"
    And the JSON at "/items/0/sku" equals "<sku>"
    And the JSON at "/items/0/quantity" equals <quantity>
    And the JSON at "/issue" equals "<issue>"
    And the JSON at "/requested_action" equals "<requested_action>"
