"""Every lint check, with its exact line and column, message and rule id."""

from __future__ import annotations

import pytest

from tests.rules.support import diagnostics

LINT_CASES = [
    ('a YAML syntax error points where the parser stopped and where the construct began',
     """\
version: 1
rules:
  - id: r
    actions: [{add_tags: [a]}
""",
     [
         "5:1: error: YAML syntax error: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence that starts at 4:14)",
     ]),
    ('a tab in indentation',
     """\
version: 1
rules:
	- id: r
""",
     [
         "3:1: error: YAML syntax error: found character '\\t' that cannot start any token (while scanning for the next token)",
     ]),
    ('a duplicate key is an error, not a silent overwrite',
     """\
version: 1
rules:
  - id: r
    actions: [{add_tags: [a]}]
    id: s
""",
     [
         "5:5: error: duplicate key 'id' (first at line 3); YAML would silently keep only the last one",
     ]),
    ('an unknown key with did-you-mean and the expected keys',
     """\
version: 1
rules:
  - id: r
    whne: {source: typeform}
    actions: [{add_tags: [a]}]
""",
     [
         "4:5: error: unknown key 'whne' (did you mean 'when'?); expected one of: id, description, enabled, when, if, vars, customer, actions, stop, order [r]",
     ]),
    ('a rule without an id',
     """\
version: 1
rules:
  - description: no id
    actions: [{add_tags: [a]}]
""",
     [
         "3:5: error: missing required key 'id'",
     ]),
    ('a rule without actions',
     """\
version: 1
rules:
  - id: r
""",
     [
         "3:5: error: missing required key 'actions' [r]",
     ]),
    ('rule ids are unique ignoring case',
     """\
version: 1
rules:
  - id: r
    actions: [{add_tags: [a]}]
  - id: R
    actions: [{add_tags: [b]}]
""",
     [
         "5:9: error: 'R' is not valid: use lower-case letters, digits and hyphens, e.g. enterprise-lead [R]",
         "5:9: error: duplicate rule id 'R' (first defined at rules.yaml:3) [R]",
     ]),
    ('an unknown operator with did-you-mean',
     """\
version: 1
rules:
  - id: r
    if: {field: data.x, op: equals, value: 1}
    actions: [{add_tags: [a]}]
""",
     [
         "4:29: error: unknown operator 'equals' (did you mean 'eq'?); expected one of: exists, not_exists, empty, not_empty, eq, ne, in, not_in, contains, not_contains, starts_with, ends_with, matches, gt, gte, lt, lte, between, is_true, is_false, has_any, has_all, has_none [r]",
     ]),
    ('in needs a list',
     """\
version: 1
rules:
  - id: r
    if: {field: data.x, op: in, value: x}
    actions: [{add_tags: [a]}]
""",
     [
         "4:40: error: in needs a non-empty list of values, got the text 'x' [r]",
     ]),
    ('between needs low <= high',
     """\
version: 1
rules:
  - id: r
    if: {field: data.x, op: between, value: [6, 0]}
    actions: [{add_tags: [a]}]
""",
     [
         '4:45: error: between needs low <= high, got [6, 0] [r]',
     ]),
    ('gt needs a number, not quoted text',
     """\
version: 1
rules:
  - id: r
    if: {field: data.x, op: gt, value: "10"}
    actions: [{add_tags: [a]}]
""",
     [
         "4:40: error: expected a number, got the text '10' (write it without quotes) [r]",
     ]),
    ('exists takes no value',
     """\
version: 1
rules:
  - id: r
    if: {field: data.x, op: exists, value: true}
    actions: [{add_tags: [a]}]
""",
     [
         '4:44: error: exists takes no value [r]',
     ]),
    ('eq needs a value',
     """\
version: 1
rules:
  - id: r
    if: {field: data.x, op: eq}
    actions: [{add_tags: [a]}]
""",
     [
         '4:29: error: eq needs a value [r]',
     ]),
    ('a regex that does not compile',
     """\
version: 1
rules:
  - id: r
    if: {field: data.x, op: matches, value: "(["}
    actions: [{add_tags: [a]}]
""",
     [
         '4:45: error: the pattern does not compile: unterminated character set at position 1 [r]',
     ]),
    ('an undefined ref with did-you-mean',
     """\
version: 1
conditions:
  has_email: {field: data.email, op: exists}
rules:
  - id: r
    if: {ref: has_emial}
    actions: [{add_tags: [a]}]
""",
     [
         "6:15: error: undefined condition 'has_emial' (did you mean 'has_email'?); define it under `conditions:` [r]",
     ]),
    ('an undefined list with did-you-mean',
     """\
version: 1
lists:
  free: [gmail.com]
rules:
  - id: r
    if: {field: data.x, op: in, list: fre}
    actions: [{add_tags: [a]}]
""",
     [
         "6:39: error: undefined list 'fre' (did you mean 'free'?); define it under `lists:` [r]",
     ]),
    ('a cycle of refs',
     """\
version: 1
conditions:
  a: {ref: b}
  b: {any: [{ref: a}, {field: data.x, op: exists}]}
rules:
  - id: r
    if: {ref: a}
    actions: [{add_tags: [a]}]
""",
     [
         '4:19: error: condition refs form a cycle: a → b → a',
     ]),
    ('a template syntax error',
     """\
version: 1
rules:
  - id: r
    actions:
      - add_note: "Hello {{ data.name }"
""",
     [
         "5:19: error: template syntax error: unexpected '}' [r]",
     ]),
    ('an unknown filter',
     """\
version: 1
rules:
  - id: r
    actions:
      - add_note: "Hello {{ data.name | capitalize }}"
""",
     [
         "5:19: error: unknown filter 'capitalize'; expected one of: date, default, email_domain, float, int, join, lower, replace, title, trim, truncate, upper [r]",
     ]),
    ('an unknown template root',
     """\
version: 1
rules:
  - id: r
    actions:
      - add_note: "Hello {{ payload.name }}"
""",
     [
         "5:19: error: unknown template root 'payload'; expected one of: event, data, customer, vars, now [r]",
     ]),
    ('an invalid status and sentiment',
     """\
version: 1
rules:
  - id: r
    actions:
      - set_status: archived
      - set_sentiment: postive
""",
     [
         "5:21: error: invalid value 'archived' (did you mean 'active'?); expected one of: active, inactive [r]",
         "6:24: error: invalid value 'postive' (did you mean 'positive'?); expected one of: positive, neutral, negative [r]",
     ]),
    ('a tag with a comma',
     """\
version: 1
rules:
  - id: r
    actions:
      - add_tags: [lead, "vip, enterprise"]
""",
     [
         "5:26: error: tag 'vip, enterprise' contains a comma, and the API splits tags on commas; write each tag apart [r]",
     ]),
    ('one rule adding and removing the same tag',
     """\
version: 1
rules:
  - id: r
    actions:
      - add_tags: [lead, VIP]
      - remove_tags: [churned, vip]
""",
     [
         "6:32: error: tag 'vip' is both added and removed by this rule [r]",
     ]),
    ('YAML 1.1 surprises where text is expected, and a harmless one as a warning',
     """\
version: 1
lists:
  zips: [01234, "02134"]
rules:
  - id: r
    enabled: yes
    if:
      all:
        - {field: data.answer, op: eq, value: no}
        - {field: data.zip, op: in, list: zips}
    actions:
      - add_tags: [on]
      - set_metadata: {opens: 12:30, since: 2024-01-01}
""",
     [
         '3:10: error: YAML 1.1 reads unquoted 01234 as the number 668; quote it if you mean the text: "01234"',
         '6:14: warning: YAML 1.1 reads unquoted yes as the boolean true; write true [r]',
         '9:47: error: YAML 1.1 reads unquoted no as the boolean false; quote it if you mean the text: "no" [r]',
         '12:20: error: YAML 1.1 reads unquoted on as the boolean true; quote it if you mean the text: "on" [r]',
         '13:31: error: YAML 1.1 reads unquoted 12:30 as the number 750; quote it if you mean the text: "12:30" [r]',
         '13:45: error: YAML reads unquoted 2024-01-01 as a date, not text; quote it if you mean the text: "2024-01-01" [r]',
     ]),
    ('a missing version',
     """\
rules:
  - id: r
    actions: [{add_tags: [a]}]
""",
     [
         "1:1: error: missing required key 'version'",
     ]),
    ('an unsupported version',
     """\
version: 2
""",
     [
         '1:10: error: unsupported version 2; this bridge reads `version: 1`',
     ]),
    ('vars that are not declared',
     """\
version: 1
rules:
  - id: r
    vars:
      domain: "{{ data.email | email_domain }}"
    if: {field: vars.domian, op: exists}
    actions:
      - add_note: "{{ vars.domain }} {{ vars.company }}"
""",
     [
         "6:17: error: vars.domian is not declared in this rule's vars (did you mean 'domain'?) [r]",
         "8:19: error: template reads vars.company, which is not declared before it in this rule's vars (did you mean 'domain'?) [r]",
     ]),
    ('a test expecting an unknown rule',
     """\
version: 1
rules:
  - id: r
    actions: [{add_tags: [a]}]
tests:
  - name: t
    event: {source: s, type: t}
    expect: {matched: [rr]}
""",
     [
         "8:24: error: unknown rule 'rr' (did you mean 'r'?)",
     ]),
    ('warnings: unused list and condition, case_sensitive without effect, unreachable rule, nested quantifiers',
     """\
version: 1
lists:
  unused: [a]
conditions:
  never: {field: data.x, op: exists}
rules:
  - id: r
    if: {field: data.x, op: gt, value: 1, case_sensitive: true}
    actions: [{add_tags: [a]}]
  - id: always
    actions: [{add_tags: [a]}]
    stop: true
  - id: hidden
    if: {field: data.x, op: matches, value: "(a+)+$"}
    actions: [{add_tags: [a]}]
""",
     [
         "3:3: warning: list 'unused' is never used",
         "5:3: warning: condition 'never' is never used",
         '8:43: warning: case_sensitive has no effect on gt [r]',
         "13:9: warning: never evaluated: rule 'always' always matches and stops [hidden]",
         '14:45: warning: nested quantifiers like (a+)+ can take exponential time on unlucky input; simplify the pattern [hidden]',
     ]),
    ('misspelt actions, two actions in one item, null metadata',
     """\
version: 1
rules:
  - id: r
    actions:
      - add_tag: [a]
      - {add_tags: [a], add_note: x}
      - set_metadata: {gone: null}
""",
     [
         "5:9: error: unknown action 'add_tag' (did you mean 'add_tags'?); expected one of: add_tags, remove_tags, set_metadata, remove_metadata, add_note, set_status, set_sentiment, set_name [r]",
         "6:25: error: one action per list item: 'add_tags' and 'add_note' share one; start a new `- ` item for each [r]",
         '7:30: error: null would delete the key; use remove_metadata [r]',
     ]),
    ('the customer email cannot read the customer',
     """\
version: 1
rules:
  - id: r
    customer: {email: "{{ customer.email }}"}
    actions: [{add_tags: [a]}]
""",
     [
         "4:23: error: 'customer' cannot be used here; expected one of: event, data, vars, now [r]",
     ]),
    ('a rule id that is not a slug',
     """\
version: 1
rules:
  - id: Enterprise Lead
    actions: [{add_tags: [a]}]
""",
     [
         "3:9: error: 'Enterprise Lead' is not valid: use lower-case letters, digits and hyphens, e.g. enterprise-lead [Enterprise Lead]",
     ]),
    ('values of the wrong type say what they got',
     """\
version: 1
rules:
  - id: r
    stop: "yes"
    when: {source: 3}
    actions: lead
""",
     [
         "4:11: error: expected true or false, got the text 'yes' [r]",
         '5:20: error: expected text or a list of texts, got the number 3 [r]',
         "6:14: error: expected a non-empty list of actions, got the text 'lead'; expected one of: add_tags, remove_tags, set_metadata, remove_metadata, add_note, set_status, set_sentiment, set_name [r]",
     ]),
    ('a misspelt condition group',
     """\
version: 1
rules:
  - id: r
    if: {alll: [{field: data.x, op: exists}]}
    actions: [{add_tags: [a]}]
""",
     [
         "4:10: error: unknown key 'alll' (did you mean 'all'?); a condition is all, any, not, ref, or a field test {field, op, value} [r]",
     ]),
    ('an unknown field root',
     """\
version: 1
rules:
  - id: r
    if: {field: date.x, op: exists}
    actions: [{add_tags: [a]}]
""",
     [
         "4:17: error: unknown field root 'date' (did you mean 'data'?); a field path starts with one of: event, data, customer, vars [r]",
     ]),
]



@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in LINT_CASES], ids=[c[0] for c in LINT_CASES])
def test_lint(text: str, expected: list[str]) -> None:
    assert diagnostics(text) == expected
