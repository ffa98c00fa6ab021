"""Who the person is: `email`, `name`, `first_name`, `last_name`, `phone` from a form's answers.

For each of those roles the first usable value wins, in this order of evidence:

1. the source's `field_map` option (the field's key or label);
2. what the provider states outright (`known`: Calendly's invitee, HubSpot's contact properties);
3. answers the provider typed (a Typeform `email` answer, Tally `INPUT_EMAIL`, a Jotform name widget);
4. answers whose label (else key) says so, with nothing but lead-in words before the word
   ("What's your full name?", "1. Name", "Votre e-mail") and nothing after it that makes it someone
   else's ("Name of your company", "Nom de l'entreprise");
5. answers whose label holds the word among other words ("Work email", "Billing first name"); never for
   the bare word *name* ("Company name", "User name" are not the person);
6. what the provider guessed from the answers (Netlify's top-level `email`, `name`, `first_name`…); its
   name parts only when the answers name no one (a guess never splits a full name the form asked for);
7. for the email only: the first answer whose value is an email address.

A value is usable when it fits the role: an email must be one address (`x@y`), a phone needs 6+ digits.
A bare name word ("Name", "Nom", "Nombre", "Nome") next to a first-name field only is the last name
(French "Prénom" + "Nom"), next to a last-name field only the first name ("Nombre" + "Apellido").
`name` is the full-name answer, else first and last joined; a full name is never split.

The words, in several languages, are data: `person_words.json`. Matching folds accents and case and
splits camelCase and punctuation, so the work is linear in the size of the answers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import abc, deque
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Protocol, Sequence

PERSON_KEYS = ("email", "name", "first_name", "last_name", "phone")
WORDS_FILE = Path(__file__).with_name("person_words.json")
# Which role a label is read as when it holds words of several: "First and last name" is a full name,
# "Nom de famille" a last name although it holds "nom".
_PRECEDENCE = ("full_name", "first_name", "last_name", "email", "phone", "name")
_NAME_ROLES = frozenset({"full_name", "first_name", "last_name", "name"})
_MAPPED, _KNOWN, _TYPED, _LABEL, _LOOSE, _GUESSED, _VALUE = range(7)    # evidence tiers, best first
_EMAIL_VALUE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[\W_]+")
_TRAILING_DIGITS = re.compile(r"(?<=[a-z])\d+$")


class AnswerLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def label(self) -> str | None: ...
    @property
    def role(self) -> str | None: ...


@dataclass(frozen=True)
class Vocabulary:
    """The folded words of `person_words.json`: phrases per role, lead-in words, words of other people."""

    phrases: Mapping[str, Mapping[str, tuple[tuple[str, ...], ...]]]   # first word -> role -> phrases
    lead_in: frozenset[str]
    not_the_person: frozenset[str]

    @classmethod
    def load(cls, path: Path = WORDS_FILE) -> Vocabulary:
        raw = json.loads(path.read_text(encoding="utf-8"))
        index: dict[str, dict[str, list[tuple[str, ...]]]] = {}
        for role in _PRECEDENCE:
            for phrase in raw[role]:
                tokens = words(phrase)
                index.setdefault(tokens[0], {}).setdefault(role, []).append(tokens)
        phrases = {first: {role: tuple(sorted(found, key=len, reverse=True)) for role, found in by_role.items()}
                   for first, by_role in index.items()}
        return cls(phrases=phrases, lead_in=frozenset(w for p in raw["lead_in"] for w in words(p)),
                   not_the_person=frozenset(w for p in raw["not_the_person"] for w in words(p)))


def words(label: str) -> tuple[str, ...]:
    """`"What's your E-mail 2?"` -> `("what", "s", "your", "e", "mail", "2")`; `"firstName"` -> first, name."""
    folded = fold(_CAMEL.sub(" ", label))
    return tuple(_TRAILING_DIGITS.sub("", w) for w in _NON_WORD.split(folded.lower()) if w)


def fold(text: str) -> str:
    """Accents off Latin letters (`Prénom` -> `Prenom`, `Förnamn` -> `Fornamn`); other scripts as written
    (`이름`, `メールアドレス` keep their marks)."""
    if text.isascii():
        return text
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch) and out and out[-1].isascii():
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


VOCABULARY = Vocabulary.load()


def role_of(label: str | None, vocabulary: Vocabulary = VOCABULARY) -> tuple[str, int] | None:
    """The role a label names and how plainly (`_LABEL` or `_LOOSE`), or None.

    The role is one of `_PRECEDENCE`: `full_name` and `name` (a bare name word) are told apart so the
    caller can pair a bare name word with a lone first- or last-name field.
    """
    if not label:
        return None
    if vocabulary is VOCABULARY and len(label) <= _CACHED_LABEL_CHARS:
        return _role_of_cached(label)  # forms send the same labels again and again
    return _role_of(label, vocabulary)


# Labels up to this length have their role remembered (the words file is fixed for the process); a
# sender of endless distinct labels only churns the bounded cache.
_CACHED_LABEL_CHARS = 200


@lru_cache(maxsize=4096)
def _role_of_cached(label: str) -> tuple[str, int] | None:
    return _role_of(label, VOCABULARY)


def _role_of(label: str, vocabulary: Vocabulary) -> tuple[str, int] | None:
    tokens = words(label)
    best: dict[str, int] = {}
    for start, token in enumerate(tokens):
        for role, phrases in vocabulary.phrases.get(token, {}).items():
            for phrase in phrases:
                end = start + len(phrase)
                if tokens[start:end] == phrase:
                    tier = _tier(role, tokens[:start], tokens[end:], vocabulary)
                    if tier is not None and tier < best.get(role, _VALUE):
                        best[role] = tier
                    break  # the longest phrase at this position decides
    for role in _PRECEDENCE:
        if role in best:
            return role, best[role]
    return None


def _tier(role: str, before: Sequence[str], after: Sequence[str], vocabulary: Vocabulary) -> int | None:
    others = [*before, *after]
    someone_else = any(w in vocabulary.not_the_person for w in others)
    if role in _NAME_ROLES and someone_else:
        return None
    plain = (all(w in vocabulary.lead_in or w.isdigit() for w in before)
             and not any(w in vocabulary.not_the_person for w in after))
    if plain:
        return _LABEL
    return None if role == "name" else _LOOSE


def detect(answers: Sequence[AnswerLike], *, known: Mapping[str, Any] | None = None,
           mapped: Mapping[str, Any] | None = None, guessed: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The person found in `answers`: {role: text} for the roles found (see the module docstring).

    `mapped` holds the values the source's `field_map` points at; `known` what the provider states;
    `guessed` what the provider guessed from the same answers (Netlify's top-level `name`,
    `first_name`…): used after the answers' labels, and for the name only when the answers name no one.
    """
    known = known or {}
    mapped = mapped or {}
    guessed = guessed or {}
    candidates: dict[str, list[list[Any]]] = {role: [[] for _ in range(_VALUE + 1)] for role in PERSON_KEYS}
    bare_names: list[Any] = []
    for role in PERSON_KEYS:
        candidates[role][_MAPPED].append(mapped.get(role))
        candidates[role][_KNOWN].append(known.get(role))
    for answer in answers:
        if answer.role in candidates:
            candidates[answer.role][_TYPED].append(answer.value)
        found = role_of(answer.label) or (role_of(answer.key) if answer.key != answer.label else None)
        if found is None:
            if answer.role is None:
                candidates["email"][_VALUE].append(answer.value)
            continue
        role, tier = found
        if role == "name":
            bare_names.append(answer.value)
        candidates["name" if role == "full_name" else role][tier].append(answer.value)
    for role in ("email", "phone"):
        candidates[role][_GUESSED].append(guessed.get(role))
    person = {role: _first_usable(role, candidates[role]) for role in PERSON_KEYS}
    person = _pair_bare_name(person, candidates, bare_names)
    if not any(person[role] for role in ("name", "first_name", "last_name")):
        person.update({role: _usable(role, guessed.get(role)) for role in ("name", "first_name", "last_name")})
    if not person["name"]:
        person["name"] = _joined(person["first_name"], person["last_name"])
    return {role: value for role, value in person.items() if value}


class Found(NamedTuple):
    """An answer found in a sender's own JSON (see `answers_in`); a named tuple: every delivery makes
    one per field, and a frozen dataclass costs several times as much to build."""

    key: str
    value: Any
    label: str | None
    role: str | None = None


LABEL_KEYS = ("label", "title", "question", "name", "text")
VALUE_KEYS = ("value", "answer", "response")
MAX_DEPTH = 3


def answers_in(body: Mapping[str, Any]) -> list[Found]:
    """The answers of a sender's own JSON, breadth first (the top level before what is nested in it):
    `{key: scalar}` pairs up to `MAX_DEPTH` deep, labelled with their parent's key too ("form name",
    "contact email": a form's name is not the person's), and answer objects such as
    `{"title": "E-mail", "type": "email", "value": "…"}` (in a list or keyed by an id), typed by their
    `type` when it says email or phone. Each node is visited once: linear in the body's size."""
    found: list[Found] = []
    pending: deque[tuple[Mapping[str, Any] | list[Any], str, int]] = deque([(body, "", 0)])
    while pending:
        node, parent, depth = pending.popleft()
        is_mapping = isinstance(node, abc.Mapping)
        items = node.items() if isinstance(node, abc.Mapping) else ((parent, v) for v in node)
        for key, value in items:
            key = str(key)
            if isinstance(value, abc.Mapping):  # collections.abc's: typing.Mapping's check costs twice as much
                answer = _answer_object(key, value)
                if answer is not None:
                    found.append(answer)
                elif depth < MAX_DEPTH:
                    pending.append((value, key, depth + 1))
            elif isinstance(value, list):
                if depth < MAX_DEPTH:
                    pending.append((value, key, depth + 1))
            elif is_mapping:
                label = f"{parent} {key}" if parent else key
                found.append(Found(key=label, value=value, label=label))
    return found


def _answer_object(key: str, obj: Mapping[str, Any]) -> Found | None:
    value_key = next((k for k in VALUE_KEYS if k in obj), None)
    label = next((obj[k] for k in LABEL_KEYS if isinstance(obj.get(k), str) and obj[k].strip()), None)
    if value_key is None or label is None:
        return None
    kind = str(obj.get("type") or "").lower()
    role = "email" if "email" in kind else "phone" if "phone" in kind or kind == "tel" else None
    return Found(key=key, value=obj[value_key], label=label, role=role)


def _pair_bare_name(person: dict[str, str | None], candidates: Mapping[str, list[list[Any]]],
                    bare_names: list[Any]) -> dict[str, str | None]:
    """A bare "Nom" beside "Prénom" is the last name; "Nombre" beside "Apellido" the first name."""
    name_stated = any(_usable("name", v) for tier in candidates["name"][:_LABEL] for v in tier)
    bare = next((t for t in (_usable("name", v) for v in bare_names) if t), None)
    if name_stated or bare is None or person["name"] != bare:
        return person
    for missing, present in (("last_name", "first_name"), ("first_name", "last_name")):
        if person[present] and not person[missing]:
            return {**person, missing: bare, "name": None}
    return person


def _first_usable(role: str, tiers: Iterable[list[Any]]) -> str | None:
    for tier in tiers:
        for value in tier:
            usable = _usable(role, value)
            if usable:
                return usable
    return None


def _usable(role: str, value: Any) -> str | None:
    """The value as text if it can be this role's value (an email one address, a phone 6+ digits)."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict, tuple)):
        return None
    value_text = str(value).strip()
    if not value_text:
        return None
    if role == "email":
        return value_text if _EMAIL_VALUE.fullmatch(value_text) else None
    if role == "phone":
        return value_text if sum(ch.isdigit() for ch in value_text) >= 6 else None
    return value_text


def _joined(*parts: str | None) -> str | None:
    return " ".join(p for p in parts if p) or None
