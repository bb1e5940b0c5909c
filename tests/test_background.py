import threading

import pytest

from rag.background import in_background


def test_the_result_comes_from_a_named_thread_that_is_not_a_daemon() -> None:
    seen: list[threading.Thread] = []

    def work() -> int:
        seen.append(threading.current_thread())
        return 42

    assert in_background(work, "rag-test").result(timeout=10) == 42
    assert seen[0] is not threading.main_thread()
    assert seen[0].name == "rag-test" and not seen[0].daemon


def test_what_the_work_raises_is_raised_to_whoever_waits() -> None:
    def work() -> None:
        raise OSError("no such file")

    future = in_background(work, "rag-test")
    with pytest.raises(OSError, match="no such file"):
        future.result(timeout=10)
