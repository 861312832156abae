"""What counts as personal data by default (the policy README's PII section describes).

Pure constants, no imports: Django models and forms read them without loading spaCy.

Personal data: names of private individuals, e-mail addresses, phone numbers, street addresses
with house numbers and their postal codes, payment cards, IBANs and bank account numbers,
national ids (SSN, ITIN, passport, driving licence, NHS and National Insurance numbers),
IP addresses, account/customer/member ids and dates of birth.

Not personal data by default: cities and countries on their own, companies, brands, products
and platforms, public figures and historical persons, nationalities and religions, currencies,
code and programming keywords, capitalised common words, ages and generic dates, web
addresses. The types for some of them exist (``OPTIONAL_ENTITIES``) and a dataset's admins
can switch them on.
"""

from __future__ import annotations

DEFAULT_ENTITIES: tuple[str, ...] = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "ZIP_CODE",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_BANK_NUMBER",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_DRIVER_LICENSE",
    "UK_NHS",
    "UK_NINO",
    "MEDICAL_LICENSE",
    "CRYPTO",
    "IP_ADDRESS",
    "ACCOUNT_ID",
    "DATE_OF_BIRTH",
)

#: Detectable, off unless a dataset switches them on.
OPTIONAL_ENTITIES: tuple[str, ...] = (
    "LOCATION",
    "AGE",
    "NRP",
    "URL",
    "DATE_TIME",
    "ORGANIZATION",
    "MAC_ADDRESS",
)

KNOWN_ENTITIES: tuple[str, ...] = DEFAULT_ENTITIES + OPTIONAL_ENTITIES
