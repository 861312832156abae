from curation.models.access_tokens import *  # noqa: F403  (personal access tokens)
from curation.models.api import IngestRequest
from curation.models.conversations import (
    FLAG_LABELS,
    Conversation,
    ConversationQuerySet,
    ConversationStatus,
)
from curation.models.datasets import (
    ApprovalRule,
    AuditEvent,
    Dataset,
    Invitation,
    Membership,
    PiiOperator,
    Role,
)
from curation.models.imports import ImportBatch, ImportFormat, ImportLineError, ImportOutcome
from curation.models.jobs import ACTIVE_STATUSES, WORKER_LOST, Job, JobStatus
from curation.models.pii import (
    FindingDecision,
    FindingSource,
    PiiFinding,
    PiiRun,
    PiiTextAnalysis,
)
from curation.models.preferences import (
    LabelledReply,
    PairChoice,
    PairSource,
    PairVerdict,
    PairwiseVerdict,
    PreferencePair,
)
from curation.models.prices import *  # noqa: F403  (training prices)
from curation.models.quality import QualityRun
from curation.models.reviews import *  # noqa: F403  (review workflow models)
from curation.models.versions import *  # noqa: F403  (dataset version models)

__all__ = [
    "ACTIVE_STATUSES",
    "FLAG_LABELS",
    "WORKER_LOST",
    "ApprovalRule",
    "AuditEvent",
    "Conversation",
    "ConversationQuerySet",
    "ConversationStatus",
    "Dataset",
    "FindingDecision",
    "FindingSource",
    "ImportBatch",
    "ImportFormat",
    "ImportLineError",
    "ImportOutcome",
    "IngestRequest",
    "Invitation",
    "Job",
    "JobStatus",
    "LabelledReply",
    "Membership",
    "PairChoice",
    "PairSource",
    "PairVerdict",
    "PairwiseVerdict",
    "PiiFinding",
    "PiiOperator",
    "PiiRun",
    "PiiTextAnalysis",
    "PreferencePair",
    "QualityRun",
    "Role",
]
