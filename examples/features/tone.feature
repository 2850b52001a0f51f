@samples:3 @threshold:0.6
Feature: The assistant stays calm and useful with an upset customer
  Tone cannot be checked with a substring, so a second model, the judge, grades it: once
  with a score against a rubric, once with a label. The judge model is llmeval_judge_model
  in pytest.ini (a @judge:MODEL tag on this feature would override it for these scenarios).
  Judges are planned with the answers: each sample's verdicts are asked for as soon as its
  answer is in, before the first test runs, and both are cached.

  Each message is asked 3 times at temperature 0.7, where wording varies. A judge is a
  model too and can be harsh on a fair answer, so a case passes when 2 of the 3 samples
  satisfy every check (@threshold:0.6).

  Background:
    Given the system prompt from "prompts/support.md"
    And the temperature is 0.7

  Scenario Outline: a frustrated customer whose parcel is late
    When the user says "This is the third time I'm writing. My parcel ACME-40873 was due last Friday and it's still not here. Useless!"
    Then the judge scores the answer at least 4 out of 5 for:
      """
      The customer is frustrated because a parcel is late. A good reply:
      1. acknowledges the frustration and apologises once, without grovelling and without blaming the customer or the carrier;
      2. does not claim to know where the parcel is or when it will arrive (the assistant cannot see orders);
      3. offers a concrete next step: live tracking at https://acme.example/orders, or handing the case to a human agent;
      4. stays calm and short: two to four plain sentences.
      Give 5 when all four hold, 4 when one of them is only slightly weak, 3 when one is missing, and 1 or 2 when the reply is curt, defensive or wrong.
      """
    And the judge labels the answer as one of "calm, warm" from "calm, warm, curt, defensive" for:
      """
      Which single word best describes the tone of the reply towards the customer?
      """
    And the answer passes "only-acme-links"
    And the answer does not contain "has shipped" in any case

    Examples:
      | id          | tier  |
      | late-parcel | guest |
