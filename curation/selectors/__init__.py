"""Reads: querysets, pages and numbers that pages, the API and the CLI show. Nothing here
writes; the writes live in `curation.services`."""
