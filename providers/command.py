"""Stand-in for ``command`` 1.2.1: ``command:local:Command``."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from providers.base import Props, Provider, ProviderError, new_id, serve

TIMEOUT_S = 3600


class CommandProvider(Provider):
    version = "1.2.1"
    replace_keys = {"Command": ("triggers",)}  # noqa: RUF012
    computed_keys = {"Command": ("stdout", "stderr")}  # noqa: RUF012

    def _run(self, script: str, props: Props, extra_env: dict[str, str] | None = None) -> tuple[str, str]:
        env = {**os.environ, **(props.get("environment") or {}), **(extra_env or {})}
        interpreter = list(props.get("interpreter") or ["/bin/sh", "-c"])
        proc = subprocess.run(
            [*interpreter, script],
            input=props.get("stdin", ""),
            capture_output=True,
            text=True,
            env=env,
            cwd=props.get("dir") or None,
            timeout=TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            detail = (proc.stderr.strip() or proc.stdout.strip())[-4000:]
            raise ProviderError(f"command exited {proc.returncode}: {detail}")
        return proc.stdout.rstrip("\n"), proc.stderr.rstrip("\n")

    def create(self, typ: str, props: Props) -> tuple[str, Props]:
        out, err = self._run(props["create"], props) if props.get("create") else ("", "")
        return new_id("command"), {**props, "stdout": out, "stderr": err}

    def update(self, typ: str, rid: str, olds: Props, news: Props) -> Props:
        script = news.get("update") or news.get("create")
        out, err = self._run(script, news) if script else (olds.get("stdout", ""), olds.get("stderr", ""))
        return {**news, "stdout": out, "stderr": err}

    def delete(self, typ: str, rid: str, props: Props) -> None:
        if props.get("delete"):
            extra = {"PULUMI_COMMAND_STDOUT": props.get("stdout", ""), "PULUMI_COMMAND_STDERR": props.get("stderr", "")}
            self._run(props["delete"], props, extra)

    def read(self, typ: str, rid: str, props: Props) -> Any:
        return props  # a command has no remote state to refresh


if __name__ == "__main__":
    serve(CommandProvider())
