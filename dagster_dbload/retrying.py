"""One retry policy for everything this package retries (write conflicts, SuperAnnotate's HTTP errors, the local
warehouse's file lock, a host that is not reachable yet): tenacity with full-jitter exponential backoff, bounded
by attempts or by a deadline, waiting as long as the server's Retry-After asks when it says."""

from __future__ import annotations

from collections.abc import Callable

import tenacity
from tenacity.stop import stop_base


def retrying(
    retry_if: Callable[[BaseException], bool],
    *,
    attempts: int | None = None,
    within_seconds: float | None = None,
    first_delay: float = 0.2,
    max_delay: float = 30.0,
    retry_after: Callable[[BaseException], float | None] | None = None,
    before_sleep: Callable[[BaseException, float, int], None] | None = None,
) -> tenacity.Retrying:
    """A `for attempt in retrying(...): with attempt: ...` loop that runs the block again while `retry_if(error)`,
    up to `attempts` times in all or for `within_seconds`. Delays are random in [0, first_delay * 2**n] up to
    `max_delay`, or what `retry_after(error)` says; `before_sleep(error, delay, attempt)` hears of each retry.
    Errors not retried, and the last one, are re-raised as they are."""
    stops: list[stop_base] = []
    if attempts is not None:
        stops.append(tenacity.stop_after_attempt(max(1, attempts)))
    if within_seconds is not None:
        stops.append(tenacity.stop_after_delay(within_seconds))
    backoff = tenacity.wait_random_exponential(multiplier=first_delay, max=max_delay)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after(error) if retry_after and error is not None else None
        return min(max_delay, asked) if asked is not None else backoff(state)

    def sleeping(state: tenacity.RetryCallState) -> None:
        if before_sleep and state.outcome and state.next_action:
            error = state.outcome.exception()
            assert error is not None  # retry_if_exception: only a failed attempt is retried
            before_sleep(error, state.next_action.sleep, state.attempt_number)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(retry_if),
        stop=tenacity.stop_any(*stops) if stops else tenacity.stop_never,
        wait=wait,
        before_sleep=sleeping,
        reraise=True,
    )
