"""What the three hosted providers share: their SDKs (openai, together, fireworks-ai) are
generated from one template, so their errors map onto the transient/permanent split the jobs
retry on in one way, and every call goes through the same translation. Each provider module
still wraps exactly one outside system and imports its own SDK; this one imports none.

The SDKs' own retries are off (``max_retries=0``): our background job owns retrying, and it
must look a job up by its tag before re-creating it, which an SDK cannot know.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from training.providers.base import (
    PermanentProviderError,
    Provider,
    ProviderError,
    RemoteFile,
    Serving,
    TransientProviderError,
)

T = TypeVar("T")

# 429s that mean "not today" rather than "slow down": retrying within minutes is useless.
PERMANENT_RATE_LIMIT_CODES = frozenset(
    {
        "daily_limit_exceeded",
        "insufficient_quota",
        "billing_hard_limit_reached",
        "billing_not_active",
        "quota_exceeded",
    }
)
_PERMANENT_RATE_LIMIT_WORDS = ("daily limit", "quota", "billing")
# The SDK itself retries these statuses, as they are typically lock or gateway hiccups.
_TRANSIENT_STATUSES = frozenset({408, 409})


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) / divisor
            except ValueError:
                continue
    return None


def _status_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        # OpenAI and Together put the reason in {"error": {"message"}} (the SDKs unwrap
        # it), Fireworks in a google.rpc.Status {"code", "message"}.
        error = body.get("error")
        inner = error if isinstance(error, dict) else body
        if isinstance(inner.get("message"), str) and inner["message"]:
            return inner["message"]
    return str(exc.message)


def _where(exc: Any, fallback: str | None) -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) if request is not None else None
    if url is not None:
        return f"{url.scheme}://{url.host}{':' + str(url.port) if url.port else ''}{url.path}"
    return fallback or "the provider"


def translate_error(
    exc: Exception, *, label: str, url: str | None = None, sdk: Any
) -> ProviderError:
    """Map an SDK exception onto the transient/permanent split the jobs retry on.

    ``sdk`` is the module whose exception classes to recognise (passed in, so this module
    imports no SDK): the openai, together and fireworks SDKs are generated alike and raise
    the same family of errors. Connection errors name the URL that could not be reached.
    """
    if isinstance(exc, sdk.APITimeoutError):
        return TransientProviderError(
            f"{label}: the request to {_where(exc, url)} timed out", code="timeout"
        )
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({cause})" if cause else ""
        return TransientProviderError(
            f"{label}: connection to {_where(exc, url)} failed{detail}", code="connection_error"
        )
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        code = getattr(exc, "code", None)
        code = code if isinstance(code, str) else None
        param = getattr(exc, "param", None)
        message = _status_message(exc)
        text = f"{label}: {message} (HTTP {status}{', ' + code if code else ''})"
        if status == 429:
            lowered = message.lower()
            if code in PERMANENT_RATE_LIMIT_CODES or any(
                word in lowered for word in _PERMANENT_RATE_LIMIT_WORDS
            ):
                return PermanentProviderError(
                    text, code=code or "quota_exceeded", status_code=status, param=param
                )
            return TransientProviderError(
                text,
                code=code or "rate_limited",
                status_code=status,
                param=param,
                retry_after=_retry_after(exc.response),
            )
        if status == 409 and ("already exists" in message.lower() or code == "ALREADY_EXISTS"):
            # Not a lock hiccup: what we asked to create exists (a create whose reply was
            # lost went through). Retrying cannot change that; the caller looks it up.
            return PermanentProviderError(
                text, code="already_exists", status_code=status, param=param
            )
        if status >= 500 or status in _TRANSIENT_STATUSES:
            return TransientProviderError(
                text,
                code=code or "server_error",
                status_code=status,
                param=param,
                retry_after=_retry_after(exc.response),
            )
        fallback = {401: "invalid_api_key", 403: "permission_denied", 404: "not_found"}
        return PermanentProviderError(
            text,
            code=code or fallback.get(status, f"http_{status}"),
            status_code=status,
            param=param,
        )
    return PermanentProviderError(f"{label}: {exc}", code="client_error")


class SdkProvider(Provider):
    """A hosted provider reached through its generated SDK.

    Subclasses set ``sdk`` (the SDK module) and ``sdk_error`` (its base exception class),
    and ``label``, ``base_url`` and ``_sleep`` in their constructor.
    """

    sdk: Any
    sdk_error: type[Exception]
    label: str
    base_url: str
    _sleep: Callable[[float], None]

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except self.sdk_error as exc:
            raise translate_error(exc, label=self.label, url=self.base_url, sdk=self.sdk) from exc

    def _call(self, fn: Callable[[], T]) -> T:
        with self._translated():
            return fn()

    def _answers(self, chat: Any, model: str, *, not_deployed: str) -> Serving:
        """Ask ``model`` for one token through ``chat`` (the SDK's chat completions): a
        reply means it answers; the provider's refusal (404, 400) means it is not served,
        with ``not_deployed`` saying what to do; outages stay errors."""
        try:
            self._call(
                lambda: chat.create(
                    model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1
                )
            )
        except PermanentProviderError as error:
            if error.status_code in {400, 404, 422}:
                return Serving(
                    model=model, state="not_deployed", detail=f"{not_deployed} ({error})"
                )
            raise
        return Serving(model=model, state="answering", detail=f"{model} answers chat")

    def _wait_until_ready(
        self,
        look: Callable[[], tuple[RemoteFile | None, str]],
        *,
        timeout: float,
        poll_interval: float,
    ) -> RemoteFile:
        """Poll ``look`` until it gives the processed file; it raises for a refused file and
        otherwise says what the file still is, which names a timeout (transient: a later
        try may find it done)."""
        deadline = time.monotonic() + timeout
        while True:
            ready, still = look()
            if ready is not None:
                return ready
            if time.monotonic() >= deadline:
                raise TransientProviderError(
                    f"{self.label}: {still} after {timeout:g}s", code="file_processing_timeout"
                )
            self._sleep(poll_interval)
