"""Factories for every model, in one place."""

from __future__ import annotations

from typing import Any

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


def member(dataset: Dataset, name: str, role: str = Role.REVIEWER) -> object:
    """A user called `name` with `role` in `dataset`."""
    user = UserFactory(username=name)
    MembershipFactory(dataset=dataset, user=user, role=role)
    return user


class ImportBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportBatch

    dataset = factory.SubFactory(DatasetFactory)
    original_name = "chats.jsonl"
    file = factory.django.FileField(filename="chats.jsonl", data=b"")


def chat(
    user: str = "Hello", assistant: str = "Hi! How can I help?", system: str | None = "Be helpful."
) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return [
        *messages,
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation
        skip_postgeneration_save = True

    dataset = factory.SubFactory(DatasetFactory)
    original = factory.Sequence(lambda n: chat(user=f"Question number {n}?"))
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
    status = ConversationStatus.IN_REVIEW
    message_count = 3
    token_count = 30
    assistant_tokens = 8

    @factory.post_generation
    def index_for_search(obj, create: bool, extracted: object, **kwargs: object) -> None:
        # Imports fill the search column in their follow-up quality job; factories do it here.
        if create:
            from curation.models.conversations import search_vector

            Conversation.objects.filter(pk=obj.pk).update(search_vector=search_vector())

    @classmethod
    def create_many(cls, size: int, **kwargs: object) -> list[Conversation]:
        """``create_batch`` in two statements rather than two per row (thousands of rows)."""
        from curation.models.conversations import search_vector

        rows = Conversation.objects.bulk_create(cls.build_batch(size, **kwargs))
        Conversation.objects.filter(pk__in=[row.pk for row in rows]).update(
            search_vector=search_vector()
        )
        return rows


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "curation.Review"

    conversation = factory.SubFactory(ConversationFactory)
    dataset = factory.LazyAttribute(lambda review: review.conversation.dataset)
    reviewer = factory.SubFactory(UserFactory)
    decision = "approve"
    scores = factory.LazyAttribute(lambda review: {c["key"]: 4 for c in review.dataset.criteria})
    seconds = 30.0


class ConversationRevisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "curation.ConversationRevision"

    conversation = factory.SubFactory(ConversationFactory)
    message_index = 2
    before = "Hi! How can I help?"
    after = "Hello! What can I do for you?"


class PiiFindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "curation.PiiFinding"

    conversation = factory.SubFactory(ConversationFactory)
    message_index = 1
    field = "content"
    start = 0
    end = 5
    entity_type = "PERSON"
    score = 0.85


# -- training ---------------------------------------------------------------------------

# OpenAI base models the tests offer (prices are the price table's).
DEFAULT_MODELS = {
    "gpt-4.1-mini-2025-04-14": {"token_limit": 65536},
    "gpt-4o-mini-2024-07-18": {"token_limit": 65536},
}


def simulator_provider(base_url: str, *, name: str = "simulator", **extra: Any) -> dict[str, Any]:
    """The OpenAI simulator at `base_url` as a CURATOR_TRAINING_PROVIDERS entry.

    A dozen test files configure this same entry; one owner means a key the registry comes
    to need is added here once. `extra` adds or overrides keys (a bad key, other models).
    The short timeout makes a simulator that stopped answering fail the test in seconds.
    """
    return {
        "name": name,
        "kind": "simulator",
        "label": "OpenAI simulator",
        "base_url": base_url,
        "models": DEFAULT_MODELS,
        "timeout": 5,
        **extra,
    }


def azure_on_simulator(
    simulator_url: str,
    *,
    control_plane: bool = True,
    subscription_id: str = "sub-1",
    resource_group: str = "rg-1",
    resource_name: str = "curator-aoai",
) -> dict[str, Any]:
    """Azure OpenAI served by the simulator at `simulator_url` (its ``.../v1`` base URL).

    The simulator answers Azure's data plane under ``/openai/v1`` and its control plane under
    ``/azure-management``; the key and the management token are read from
    AZURE_OPENAI_API_KEY and AZURE_MANAGEMENT_TOKEN, which the test sets. Without
    `control_plane` the entry names no subscription, so deployments must be made by hand.
    """
    root = simulator_url.removesuffix("/v1")
    entry: dict[str, Any] = {
        "name": "azure",
        "kind": "openai",
        "label": "Azure OpenAI",
        "base_url": f"{root}/openai/v1",
        "api_key_env": "AZURE_OPENAI_API_KEY",
        "azure": True,
        "prices": "azure",
    }
    if control_plane:
        entry |= {
            "subscription_id": subscription_id,
            "resource_group": resource_group,
            "resource_name": resource_name,
            "management_token_env": "AZURE_MANAGEMENT_TOKEN",
            "management_url": f"{root}/azure-management",
        }
    return entry


def finetune_example(index: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You answer questions about invoices."},
            {"role": "user", "content": f"What is the total of invoice {index}?"},
            {"role": "assistant", "content": f"Invoice {index} totals {index * 10} euros."},
        ]
    }


def built_version(  # type: ignore[no-untyped-def]
    dataset,
    *,
    train: int = 12,
    validation: int = 3,
    number: int | None = None,
    max_tokens: int = 40,
    status: str = "succeeded",
):
    """A built DatasetVersion whose train/validation files are really in storage, made
    without the snapshot build (which needs approved conversations)."""
    import hashlib
    import json

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from curation.models import DatasetVersion

    if number is None:
        number = (DatasetVersion.objects.filter(dataset=dataset).count() or 0) + 1
    files = {}
    counts = {"train.jsonl": train, "validation.jsonl": validation}
    start = 0
    for name, count in counts.items():
        data = "".join(
            json.dumps(finetune_example(start + i)) + "\n" for i in range(count)
        ).encode()
        start += count
        stored = default_storage.save(
            f"test-snapshots/{dataset.pk}/v{number}/{name}", ContentFile(data)
        )
        files[name] = {
            "name": stored,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "examples": count,
        }
    return DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        status=status,
        examples=train + validation,
        train_examples=train,
        validation_examples=validation,
        total_tokens=30 * (train + validation),
        assistant_tokens=10 * (train + validation),
        files=files,
        stats={
            "tokens": {
                "total": 30 * (train + validation),
                "train": 30 * train,
                "validation": 30 * validation,
                "max_per_example": max_tokens,
            }
        },
    )


class FineTuneJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "training.FineTuneJob"

    version = factory.LazyAttribute(lambda job: built_version(job.dataset))
    dataset = factory.SubFactory(DatasetFactory)
    provider = "simulator"
    provider_label = "OpenAI simulator"
    provider_is_simulator = True
    base_model = "gpt-4.1-mini-2025-04-14"
    hyperparameters = factory.LazyFunction(
        lambda: {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    )


class PreferencePairFactory(factory.django.DjangoModelFactory):
    """A pair on a conversation made by ConversationFactory (system, user, assistant)."""

    class Meta:
        model = "curation.PreferencePair"

    conversation = factory.SubFactory(ConversationFactory)
    reply_start = factory.LazyAttribute(lambda pair: len(pair.conversation.original) - 1)
    alternative = factory.Sequence(
        lambda n: [{"role": "assistant", "content": f"Worse reply {n}."}]
    )
    choice = "a"
    source = "imported"


def pii_finding(text: str, value: str, entity_type: str, **extra: Any) -> dict[str, Any]:
    """A finding of ``value`` in the first message's content, as redaction takes it."""
    start = text.index(value)
    return {
        "message_index": 0,
        "field": "content",
        "start": start,
        "end": start + len(value),
        "entity_type": entity_type,
        **extra,
    }
