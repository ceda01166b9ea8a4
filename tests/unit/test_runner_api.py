"""The stack runner's own PVE reads ride out a transient failure; its writes are never repeated."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from ops.stack.pve_access import RunnerApi
from providers.pve_api import PveApi, PveApiError


class Answers:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str, **_: Any) -> Any:
        self.calls.append((method, path))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> RunnerApi:
    monkeypatch.setattr("time.sleep", lambda _: None)
    return RunnerApi("https://127.0.0.1:8006", False, api_token="root@pam!t=x")


def test_a_read_is_asked_again_after_a_5xx_or_a_broken_connection(
    api: RunnerApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = Answers(PveApiError("got timeout", 500), requests.ConnectionError("reset"), {"status": "running"})
    monkeypatch.setattr(PveApi, "_call", answers)
    assert api.get("/nodes/pve1/lxc/101/status/current") == {"status": "running"}
    assert len(answers.calls) == 3


def test_a_refusal_or_a_third_failure_is_final_and_a_write_is_never_repeated(
    api: RunnerApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PveApi, "_call", Answers(PveApiError("forbidden", 403)))
    with pytest.raises(PveApiError, match="forbidden"):
        api.get("/x")
    monkeypatch.setattr(PveApi, "_call", Answers(*[PveApiError("got timeout", 500)] * 3))
    with pytest.raises(PveApiError, match="got timeout"):
        api.get("/x")
    writes = Answers(PveApiError("got timeout", 500), "UPID")
    monkeypatch.setattr(PveApi, "_call", writes)
    with pytest.raises(PveApiError):
        api.post("/nodes/pve1/lxc", vmid=101)
    assert writes.calls == [("POST", "/nodes/pve1/lxc")]
