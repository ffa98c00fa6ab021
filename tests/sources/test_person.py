"""Person detection (bridge/adapters/person.py): which label names which role, in which languages, the
order of evidence (field map › provider-stated › typed › labels › values), and work linear in the input."""

from __future__ import annotations

import json
import sys
from types import FrameType
from typing import Any, Callable

import pytest

from bridge.adapters import get_adapter
from bridge.adapters.common import Answer, form_data
from bridge.adapters.person import PERSON_KEYS, WORDS_FILE, Vocabulary, detect, role_of, words
from bridge.inbound import Headers
from bridge.parsing import parse_body

LABEL, LOOSE = 3, 4


@pytest.mark.parametrize(("label", "role"), [
    # English, and the question forms real forms use
    ("Name", "name"), ("What's your full name?", "full_name"), ("Hello, what's your name?", "name"),
    ("1. Name", "name"), ("Name-kom", "name"), ("your-name", "name"), ("Your Name *", "name"),
    ("First Name", "first_name"), ("firstName", "first_name"), ("Name (First)", "first_name"),
    ("Surname", "last_name"), ("Family name", "last_name"), ("lastName", "last_name"),
    ("First and last name", "full_name"), ("What should we call you?", "full_name"),
    ("Email", "email"), ("E-mail address", "email"), ("Email 2", "email"), ("your-email", "email"),
    ("_replyto", "email"), ("respondentEmail", "email"), ("Phone number", "phone"), ("Mobile", "phone"),
    # French
    ("Prénom", "first_name"), ("Nom", "name"), ("Nom de famille", "last_name"), ("Nom complet", "full_name"),
    ("Votre adresse e-mail", "email"), ("Courriel", "email"), ("Téléphone", "phone"),
    ("Quel est votre nom ?", "name"),
    # Dutch
    ("Voornaam", "first_name"), ("Achternaam", "last_name"), ("Naam", "name"), ("E-mailadres", "email"),
    ("Hoe heet je?", "full_name"), ("Telefoonnummer", "phone"),
    # German
    ("Vorname", "first_name"), ("Nachname", "last_name"), ("Vor- und Nachname", "full_name"),
    ("E-Mail-Adresse", "email"), ("Wie heißt du?", "full_name"), ("Telefon", "phone"),
    ("Vor- und Zuname", "full_name"), ("Ihre E-Mail-Adresse", "email"), ("Email*", "email"),
    # Spanish
    ("Nombre", "name"), ("Apellido", "last_name"), ("Apellidos", "last_name"), ("Tu nombre", "name"),
    ("Nombre completo", "full_name"), ("Correo electrónico", "email"), ("Correo", "email"),
    ("Nombre y apellidos", "full_name"), ("Correo electrónico *", "email"),
    ("¿Cómo te llamas?", "full_name"), ("Teléfono", "phone"),
    # Swedish
    ("Förnamn", "first_name"), ("Efternamn", "last_name"), ("Namn", "name"), ("E-post", "email"),
    ("E-postadress", "email"),
    # Portuguese, Italian
    ("Nome", "name"), ("Sobrenome", "last_name"), ("Qual é o seu nome?", "name"), ("Cognome", "last_name"),
    ("Nome e cognome", "full_name"), ("Indirizzo email", "email"), ("Endereço de e-mail", "email"),
    # Polish
    ("Imię", "first_name"), ("Nazwisko", "last_name"), ("Imię i nazwisko", "full_name"),
    ("Adres e-mail", "email"), ("Numer telefonu", "phone"),
    # Korean, Russian, Finnish
    ("이름", "name"), ("이메일", "email"), ("연락처", "phone"), ("Имя", "first_name"), ("Фамилия", "last_name"),
    ("Sähköposti", "email"),
])
def test_a_label_that_plainly_names_a_role(label: str, role: str) -> None:
    assert role_of(label) == (role, LABEL)


@pytest.mark.parametrize(("label", "role"), [
    ("Work email", "email"), ("Manager's email", "email"), ("Billing first name", "first_name"),
    ("Office phone", "phone"),
])
def test_a_role_word_among_other_words_is_weaker_evidence(label: str, role: str) -> None:
    assert role_of(label) == (role, LOOSE)


@pytest.mark.parametrize("label", [
    "Company name", "Name of your company", "Nom de l'entreprise", "Nombre de la empresa", "User name",
    "Username", "Child's first name", "Name on card", "Firmenname", "Message", "Company", "Tags", "",
])
def test_labels_that_are_not_the_person(label: str) -> None:
    assert role_of(label) is None


def _detect(*answers: Answer, **kwargs: Any) -> dict[str, str]:
    return detect(list(answers), **kwargs)


@pytest.mark.parametrize(("labels", "person"), [
    (("Prénom", "Nom"), {"first_name": "A", "last_name": "B", "name": "A B"}),
    (("Nom", "Prénom"), {"first_name": "B", "last_name": "A", "name": "B A"}),
    (("Nombre", "Apellidos"), {"first_name": "A", "last_name": "B", "name": "A B"}),
    (("Nome", "Cognome"), {"first_name": "A", "last_name": "B", "name": "A B"}),
    (("Vorname", "Name"), {"first_name": "A", "last_name": "B", "name": "A B"}),
    (("Name", "Surname"), {"first_name": "A", "last_name": "B", "name": "A B"}),
    (("Imię", "Nazwisko"), {"first_name": "A", "last_name": "B", "name": "A B"}),
    (("Nom", "Message"), {"name": "A"}),
    (("Full name", "First name"), {"name": "A", "first_name": "B"}),
])
def test_a_bare_name_word_beside_one_half_of_a_name_is_the_other_half(labels: tuple[str, str],
                                                                      person: dict[str, str]) -> None:
    answers = [Answer(f"q{i}", value, label=label) for i, (label, value) in enumerate(zip(labels, "AB"))]
    assert _detect(*answers) == person


def test_evidence_order_field_map_then_known_then_typed_then_label_then_loose_then_value() -> None:
    value_only = Answer("q1", "value@example.com", label="Where can we reach you?")
    loose = Answer("q2", "loose@example.com", label="Work email")
    label = Answer("q3", "label@example.com", label="Email")
    typed = Answer("q4", "typed@example.com", label="Contact", role="email")
    answers = [value_only, loose, label, typed]
    assert _detect(*answers[:1])["email"] == "value@example.com"
    assert _detect(*answers[:2])["email"] == "loose@example.com"
    assert _detect(*answers[:3])["email"] == "label@example.com"
    assert _detect(*answers)["email"] == "typed@example.com"
    assert _detect(*answers, known={"email": "known@example.com"})["email"] == "known@example.com"
    assert _detect(*answers, known={"email": "known@example.com"},
                   mapped={"email": "mapped@example.com"})["email"] == "mapped@example.com"


@pytest.mark.parametrize("not_an_email", ["yes", "jane", "a@b", "two@example.com three@example.com",
                                          "@example.com", 42, True, ["a@example.com"]])
def test_a_value_that_is_not_one_email_address_is_never_the_email(not_an_email: Any) -> None:
    answers = [Answer("email", not_an_email, label="Email", role="email")]
    assert "email" not in _detect(*answers, known={"email": not_an_email}, mapped={"email": not_an_email})


def test_a_provider_stated_email_that_is_not_an_email_falls_through_to_the_answers() -> None:
    person = _detect(Answer("q1", "jane@example.com", label="E-mail"), known={"email": "n/a"})
    assert person == {"email": "jane@example.com"}


def test_a_phone_needs_six_digits_and_a_name_word_in_a_choice_is_still_text() -> None:
    person = _detect(Answer("phone_verified", "true"), Answer("mobile", "12345"), Answer("tel", "+33 1 23 45"),
                     Answer("q9", "Ada Lovelace", label="1. Name"))
    assert person == {"phone": "+33 1 23 45", "name": "Ada Lovelace"}


def test_a_full_name_is_never_split() -> None:
    assert _detect(Answer("q1", "Mary Ann Smith", label="What's your full name?")) == {"name": "Mary Ann Smith"}


def test_the_vocabulary_is_data_with_every_role_and_folds_like_labels() -> None:
    raw = json.loads(WORDS_FILE.read_text(encoding="utf-8"))
    assert {"full_name", "first_name", "last_name", "name", "email", "phone", "lead_in", "not_the_person"} <= set(raw)
    for role in ("full_name", "first_name", "last_name", "name", "email", "phone"):
        assert all(words(phrase) for phrase in raw[role]), role
    vocabulary = Vocabulary.load()
    assert "prenom" in vocabulary.phrases and "entreprise" in vocabulary.not_the_person
    assert words("Prénom E-Mail firstName2") == ("prenom", "e", "mail", "first", "name")
    assert set(PERSON_KEYS) == {"email", "name", "first_name", "last_name", "phone"}


# --- linear in the input: count the Python lines run, not the time (the machine is shared) ------------

def _lines_run(fn: Callable[[], Any]) -> int:
    count = 0

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count


SHAPES: dict[str, Callable[[int], str]] = {
    "distinct keys": lambda n: "&".join(f"f{i}=x" for i in range(n)),
    "email-like keys, no email values": lambda n: "&".join(f"email{i}=x" for i in range(n)),
    "name questions": lambda n: "&".join(f"what+is+your+full+name+{i}=x" for i in range(n)),
    "one slug many times": lambda n: "&".join("a" + "!" * (i % 50 + 1) + f"{'?' * (i // 50)}=x"
                                               for i in range(n)),
    "numbered keys then repeats": lambda n: "&".join([f"a_{i}=x" for i in range(2, n // 2)]
                                                     + [f"a{'!' * i}=x" for i in range(1, n // 2)]),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_form_adapter_does_linear_work_in_the_number_of_fields(shape: str) -> None:
    adapter = get_adapter("form")

    def cost(n: int) -> int:
        payload = parse_body("application/x-www-form-urlencoded", SHAPES[shape](n).encode()).payload
        return _lines_run(lambda: adapter.adapt(payload, Headers({}), {}))

    small, large = cost(1000), cost(4000)
    assert large <= 4.4 * small, (shape, small, large)


def test_a_quadratic_numbering_would_be_caught() -> None:
    """Negative control: the numbering the bridge used before (each repeat counts up from 2) is flagged."""
    def old_numbering(n: int) -> int:
        answers = [Answer("a", "x") for _ in range(n)]

        def number() -> None:
            field_values: dict[str, Any] = {}
            for a in answers:
                unique, k = a.key, 1
                while unique in field_values:
                    k += 1
                    unique = f"{a.key}_{k}"
                field_values[unique] = a.value
        return _lines_run(number)

    assert old_numbering(400) > 4.4 * old_numbering(100)
    assert form_data([Answer("a", "x")] * 3, options={})["fields"] == {"a": "x", "a_2": "x", "a_3": "x"}
