# The fine-tuning loop on one suite: run it on the base model and on the fine-tuned model side by
# side, under the current prompt and a stricter one, and export the failures as DPO pairs.
# Not part of the default run (pytest.ini's testpaths): the base model fails here on purpose.
# See README.md, "The fine-tuning loop".
@samples:3
Feature: Acme's house style for replies
  Every reply states the fact the customer needs, signs off with "— Acme Support" on its own
  last line, and never shouts (no exclamation marks). Prompting alone does not get
  gpt-4.1-mini there reliably; a model fine-tuned on the team's replies does.

  Background:
    Given the system prompt from "../prompts/house_style.md"
    And the temperature is 0.7

  Scenario Outline: a reply in the house style
    When the user says "<message>"
    Then the answer contains "<fact>" in any case
    And the answer matches the pattern "\n— Acme Support$"
    And the answer does not contain "!"

    Examples:
      | id       | message                                                   | fact              | ideal                                                                                                      |
      | refund   | Can I still send back the kettle I bought three weeks ago? | 30 days           | Yes. You have 30 days from delivery to return it; start at https://acme.example/returns.\n— Acme Support |
      | warranty | My toaster stopped working after 14 months. Is it covered? | 2 years           | Yes. Acme appliances have a 2 years warranty, so it is covered; reply with your order number.\n— Acme Support |
      | delivery | How long does standard delivery take?                     | 3-5 business days | Standard delivery takes 3-5 business days after dispatch.\n— Acme Support                                 |
      | password | I forgot my password and cannot log in.                    | reset link        | Use "Forgot password" on the login page and we will email you a reset link.\n— Acme Support              |
