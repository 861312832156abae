"""Factories for every model, in one place."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from curation.models import Conversation, ConversationStatus, Dataset, ImportBatch, Membership, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("pass-for-tests")


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    name = factory.Sequence(lambda n: f"Dataset {n}")
    slug = factory.Sequence(lambda n: f"dataset-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    dataset = factory.SubFactory(DatasetFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.REVIEWER


class ImportBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportBatch

    dataset = factory.SubFactory(DatasetFactory)
    original_name = "chats.jsonl"
    file = factory.django.FileField(filename="chats.jsonl", data=b"")


def chat(user: str = "Hello", assistant: str = "Hi! How can I help?", system: str | None = "Be helpful.") -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    dataset = factory.SubFactory(DatasetFactory)
    original = factory.Sequence(lambda n: chat(user=f"Question number {n}?"))
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
    status = ConversationStatus.IN_REVIEW
    message_count = 3
    token_count = 30
    assistant_tokens = 8
