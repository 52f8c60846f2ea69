"""The one retry policy: bounded by attempts or a deadline, a server's Retry-After over the backoff, and errors
it is not asked to retry raised at once."""

import pytest

from dagster_dbload.retrying import retrying


def run(policy, outcomes: list) -> tuple[object, int]:
    calls = 0
    for attempt in policy:
        with attempt:
            calls += 1
            outcome = outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome, calls
    raise AssertionError("unreachable")


def test_retries_what_it_is_asked_to_until_it_succeeds():
    policy = retrying(lambda e: isinstance(e, TimeoutError), attempts=3, first_delay=0.001)
    assert run(policy, [TimeoutError(), TimeoutError(), "ok"]) == ("ok", 3)


def test_gives_up_after_its_attempts_with_the_last_error():
    policy = retrying(lambda e: isinstance(e, TimeoutError), attempts=2, first_delay=0.001)
    with pytest.raises(TimeoutError, match="second"):
        run(policy, [TimeoutError("first"), TimeoutError("second"), "never"])


def test_other_errors_are_raised_at_once():
    policy = retrying(lambda e: isinstance(e, TimeoutError), attempts=5, first_delay=0.001)
    with pytest.raises(KeyError):
        run(policy, [KeyError("x"), "never"])


def test_a_deadline_bounds_the_retries():
    heard = []
    policy = retrying(lambda e: True, within_seconds=0.0, first_delay=0.001, before_sleep=lambda *a: heard.append(a))
    with pytest.raises(OSError):
        run(policy, [OSError("down"), "never"])
    assert heard == []


def test_retry_after_sets_the_delay():
    heard = []
    policy = retrying(lambda e: True, attempts=2, first_delay=100.0, retry_after=lambda e: 0.01,
                      before_sleep=lambda error, delay, attempt: heard.append((str(error), delay, attempt)))  # fmt: skip
    assert run(policy, [OSError("busy"), "ok"]) == ("ok", 2)
    assert heard == [("busy", 0.01, 1)]
