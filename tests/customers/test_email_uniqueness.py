"""A contact's email is unique within its customer, whatever its case. The
database enforces it (an expression index on PostgreSQL and SQLite alike), and
model validation reports it before the database has to."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from portal.customers.models import Contact

DUPLICATE_MESSAGE = "A contact with this email already exists for this customer."


def test_it_refuses_the_same_email_in_another_case_for_the_same_customer(customer, contact):
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(customer=customer, email="ada.lovelace@CONTOSO.COM")

    assert customer.contacts.count() == 1


def test_it_refuses_to_change_an_email_into_a_case_variant_of_another_contacts(customer, contact):
    other = Contact.objects.create(customer=customer, email="grace.hopper@contoso.com")

    other.email = "ADA.LOVELACE@contoso.com"
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save()


def test_it_accepts_the_same_email_at_another_customer(contact, other_customer):
    Contact.objects.create(customer=other_customer, email="ada.lovelace@contoso.com")

    assert Contact.objects.filter(email__iexact="ada.lovelace@contoso.com").count() == 2


def test_it_lets_a_contact_change_the_case_of_its_own_email(contact):
    contact.email = contact.email.upper()
    contact.full_clean()
    contact.save()

    contact.refresh_from_db()
    assert contact.email == "ADA.LOVELACE@CONTOSO.COM"


def test_validation_reports_a_case_insensitive_duplicate_with_a_clear_message(customer, contact):
    duplicate = Contact(customer=customer, email="Ada.Lovelace@Contoso.Com")

    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()

    assert DUPLICATE_MESSAGE in str(excinfo.value)


def test_validation_accepts_the_same_email_at_another_customer(contact, other_customer):
    Contact(customer=other_customer, email="ada.lovelace@contoso.com").full_clean()
