"""The review workflow's writes, by concern: `queue` (claims and leases), `decisions`
(reviews, the approval rule, adjudication, bulk decisions, keep-one) and `edits` (a
reviewer's message edits and what follows them)."""
