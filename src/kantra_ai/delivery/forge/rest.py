"""What kantra-ai asks of a forge, the HTTP it does it with, and errors as one line.

Both forges are spoken to with `httpx2` (the HTTP client the provider SDKs already bring) and
pydantic models of the few fields read back: kantra-ai uses six endpoints per forge, and owning the
requests means owning what matters here: which answers are retried (429, and 403 with
`retry-after`: secondary rate limits), for how long, and that no error message carries the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx2
from pydantic import BaseModel, ConfigDict, ValidationError

from kantra_ai.delivery.forge.api import ForgeError
from kantra_ai.redact import add_secret, redact

MAX_ATTEMPTS = 4
MAX_WAIT_SECONDS = 60.0  # a longer rate-limit wait is reported instead of slept through
TIMEOUT_SECONDS = 30.0


class Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


ReplyT = TypeVar("ReplyT", bound=Reply)


def masked(text: str, secrets: tuple[str, ...]) -> str:
    """`text` through the redaction layer (kantra_ai.redact), and these secrets masked whatever
    their length."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "****")
    return redact(text)


class Http:
    """One forge's API: JSON requests with retries on rate limits, errors as ForgeError lines."""

    def __init__(
        self,
        name: str,
        api: str,
        headers: Mapping[str, str],
        secrets: tuple[str, ...],
        token_hint: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.api = api.rstrip("/")
        self.secrets = secrets
        for secret in secrets:
            add_secret(secret)  # masked in everything that leaves the process, not only forge errors
        self.token_hint = token_hint  # the variable the token came from, for the 401 message
        self.sleep = sleep
        self.client = httpx2.Client(
            base_url=self.api,
            headers={"User-Agent": "kantra-ai", **headers},
            timeout=TIMEOUT_SECONDS,
        )

    def close(self) -> None:
        self.client.close()

    def fail(self, text: str) -> ForgeError:
        return ForgeError(masked(f"{self.name}: {text}", self.secrets))

    def request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        accept: tuple[int, ...] = (),
    ) -> httpx2.Response:
        """The response (2xx, or a status in `accept`), after waiting out rate limits."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self.client.request(method, path, json=json, params=params)
            except httpx2.HTTPError as exc:
                raise self.fail(f"cannot reach {self.api} to {action}: {type(exc).__name__}: {exc}") from None
            status = response.status_code
            if status < 300 or status in accept:
                return response
            wait = _rate_limit_wait(response)
            if wait is not None:
                if wait > MAX_WAIT_SECONDS or attempt == MAX_ATTEMPTS:
                    raise self.fail(
                        f"rate limit reached ({status}) to {action}; try again in {max(wait, 1):.0f}s"
                    )
                self.sleep(wait)
                continue
            if status >= 500 and attempt < 2:
                self.sleep(1.0)
                continue
            raise self.fail(self._describe(response, action))
        raise AssertionError("unreachable")

    def _describe(self, response: httpx2.Response, action: str) -> str:
        status = response.status_code
        if status == 401:
            return f"401 Unauthorized to {action}: the token in {self.token_hint} is wrong or expired"
        if status == 403:
            return f"403 Forbidden to {action}: the token in {self.token_hint} lacks the permission"
        if status == 404:
            return f"404 Not Found to {action}: no such repository at {self.api}, or the token cannot see it"
        return f"{status} to {action}: {error_message(response)}"

    def model(self, response: httpx2.Response, kind: type[ReplyT], action: str) -> ReplyT:
        try:
            return kind.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise self.fail(f"unexpected answer to {action}: {str(exc).splitlines()[0]}") from None

    def models(self, response: httpx2.Response, kind: type[ReplyT], action: str) -> list[ReplyT]:
        try:
            data = response.json()
            if not isinstance(data, list):
                raise ValueError("expected a list")
            return [kind.model_validate(item) for item in data]
        except (ValueError, ValidationError) as exc:
            raise self.fail(f"unexpected answer to {action}: {str(exc).splitlines()[0]}") from None


def error_message(response: httpx2.Response) -> str:
    """The forge's own explanation, on one line."""
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "no explanation"
    parts: list[str] = []
    if isinstance(data, dict):
        for key in ("message", "error", "error_description"):
            value = data.get(key)
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, list):
                parts.extend(str(v) for v in value)
        for item in data.get("errors", []) if isinstance(data.get("errors"), list) else []:
            if isinstance(item, dict) and isinstance(item.get("message"), str):
                parts.append(item["message"])
            elif isinstance(item, str):
                parts.append(item)
    text = "; ".join(p for p in parts if p) or response.reason_phrase or "no explanation"
    return " ".join(text.split())


def _rate_limit_wait(response: httpx2.Response) -> float | None:
    """Seconds to wait before retrying, when the answer is a rate limit; else None."""
    status = response.status_code
    headers = response.headers
    retry_after = headers.get("retry-after")
    if status == 429 or (status == 403 and (retry_after or headers.get("x-ratelimit-remaining") == "0")):
        if retry_after:
            try:
                return max(float(retry_after), 0.0)
            except ValueError:
                return 60.0
        reset = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
        if reset:
            try:
                return max(float(reset) - time.time(), 0.0)
            except ValueError:
                return 60.0
        return 60.0
    return None
