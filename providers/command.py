"""Stand-in for ``command`` 1.2.1: ``command:local:Command``.

Follows pulumi/pulumi-command provider/pkg/provider/local: ``commandController.go`` (Create runs
``create``; Update runs ``update`` or else ``create`` and starts from the previous outputs;
Delete runs ``delete`` with the last outputs) and ``commandOutputs.go`` (``run``):

- the previous ``stdout``/``stderr`` reach the next run in ``PULUMI_COMMAND_STDOUT`` and
  ``PULUMI_COMMAND_STDERR`` unless ``addPreviousOutputInEnv`` is false (so a long previous output
  can break the next run with "argument list too long", pulumi/pulumi-command#285);
- a failure's message is ``<exit error>: running "<command>":`` and the whole interleaved output;
- each line of the streams that ``logging`` selects is sent to the engine as it is written.
"""

from __future__ import annotations

import os
import subprocess
import threading
from typing import IO, Any

from providers.base import Props, Provider, ProviderError, new_id, serve

TIMEOUT_S = 3600
#: The ``logging`` input -> which streams are logged (pulumi-command local/logging.go; default stdoutAndStderr).
LOGGED = {
    "stdout": ("stdout",),
    "stderr": ("stderr",),
    "stdoutAndStderr": ("stdout", "stderr"),
    "none": (),
}


class CommandProvider(Provider):
    version = "1.2.1"
    package = "command"
    replace_keys = {"Command": ("triggers",)}  # noqa: RUF012
    computed_keys = {"Command": ("stdout", "stderr")}  # noqa: RUF012

    def _run(self, script: str, props: Props, previous: Props | None = None) -> tuple[str, str]:
        env = {**os.environ, **(props.get("environment") or {})}
        if previous is not None and props.get("addPreviousOutputInEnv", True) is not False:
            for key, name in (("stdout", "PULUMI_COMMAND_STDOUT"), ("stderr", "PULUMI_COMMAND_STDERR")):
                if previous.get(key):
                    env[name] = str(previous[key])
        interpreter = list(props.get("interpreter") or ["/bin/sh", "-c"])
        logged = LOGGED.get(str(props.get("logging") or "stdoutAndStderr"), ("stdout", "stderr"))
        try:
            proc = subprocess.Popen(
                [*interpreter, script],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=props.get("dir") or None,
            )
        except OSError as err:  # E2BIG ("argument list too long") and friends, as upstream reports them
            raise ProviderError(f"{err}: running {script!r}") from err
        both: list[str] = []
        lock = threading.Lock()
        captured: dict[str, list[str]] = {"stdout": [], "stderr": []}

        def pump(name: str, stream: IO[str]) -> None:
            for line in stream:
                with lock:
                    captured[name].append(line)
                    both.append(line)
                if name in logged:
                    self.log(line.rstrip("\n"))

        threads = [
            threading.Thread(target=pump, args=(name, stream), daemon=True)
            for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr))
        ]
        for t in threads:
            t.start()
        assert proc.stdin is not None
        try:
            proc.stdin.write(props.get("stdin", "") or "")
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            code = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        for t in threads:
            t.join()
        if code != 0:
            raise ProviderError(f"exit status {code}: running {script!r}:\n{''.join(both)}")
        return "".join(captured["stdout"]).removesuffix("\n"), "".join(captured["stderr"]).removesuffix("\n")

    def create(self, typ: str, props: Props) -> tuple[str, Props]:
        out, err = self._run(props["create"], props) if props.get("create") else ("", "")
        return new_id("command"), {**props, "stdout": out, "stderr": err}

    def update(self, typ: str, rid: str, olds: Props, news: Props) -> Props:
        script = news.get("update") or news.get("create")
        previous = {"stdout": olds.get("stdout", ""), "stderr": olds.get("stderr", "")}
        out, err = self._run(script, news, previous) if script else (previous["stdout"], previous["stderr"])
        return {**news, "stdout": out, "stderr": err}

    def delete(self, typ: str, rid: str, props: Props) -> None:
        if props.get("delete"):
            self._run(props["delete"], props, props)

    def read(self, typ: str, rid: str, props: Props) -> Any:
        return props  # a command has no remote state to refresh


if __name__ == "__main__":
    serve(CommandProvider())
