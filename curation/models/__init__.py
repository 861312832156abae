from curation.models.conversations import (
    BLOCKING_FLAGS,
    FLAG_LABELS,
    Conversation,
    ConversationQuerySet,
    ConversationStatus,
)
from curation.models.datasets import (
    DEFAULT_PII_ENTITIES,
    ApprovalRule,
    AuditEvent,
    Dataset,
    Membership,
    PiiOperator,
    Role,
)
from curation.models.imports import ImportBatch, ImportFormat, ImportLineError
from curation.models.jobs import ACTIVE_STATUSES, WORKER_LOST, Job, JobStatus

__all__ = [
    "ACTIVE_STATUSES",
    "BLOCKING_FLAGS",
    "DEFAULT_PII_ENTITIES",
    "FLAG_LABELS",
    "WORKER_LOST",
    "ApprovalRule",
    "AuditEvent",
    "Conversation",
    "ConversationQuerySet",
    "ConversationStatus",
    "Dataset",
    "ImportBatch",
    "ImportFormat",
    "ImportLineError",
    "Job",
    "JobStatus",
    "Membership",
    "PiiOperator",
    "Role",
]
