"""The command line as a user meets it before any service runs: its help, its refusals of
bad input (one line, rc != 0), where it looks for the service, and what it says when nothing
answers there. Run through typer's CliRunner, in process."""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from badgepulse.cli import cli, find_target
from badgepulse.up import DEMO_DIR_PREFIX
from core.settings import Settings, get_settings

# Every command and sub-command, as a user types it.
COMMANDS = [["up"], ["worker"], ["api"], ["simulate"], ["rebuild"], ["keys"],
            ["keys", "create"], ["keys", "list"], ["keys", "revoke"], ["coverage"],
            ["coverage", "set"]]


def dead_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A user's shell with no BADGEPULSE_* set, a data directory and a temporary
    directory of its own (so no `up` of this machine is found), and fresh settings."""
    for k in list(os.environ):
        if k.startswith("BADGEPULSE_"):
            monkeypatch.delenv(k)
    (tmp_path / "data").mkdir()
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("BADGEPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    get_settings.cache_clear()
    yield {"data": str(tmp_path / "data"), "tmp": str(tmp_path / "tmp")}
    get_settings.cache_clear()


def run(*args: str, **env: str) -> tuple[int, str, str]:
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "100", **env},
                                prog_name="badgepulse")
    return result.exit_code, result.stdout, result.stderr


def help_text(command: list[str]) -> str:
    """The help as one line of words (box drawing and wrapping gone)."""
    code, out, _err = run(*command, "--help")
    assert code == 0, out
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_no_type_tags(command: list[str]):
    text = help_text(command)
    tags = re.findall(r"<(?:str|bool|int|float|path|list\[[a-z]+\]|int range)>", text)
    assert tags == [], f"`badgepulse {' '.join(command)} --help` shows {tags}"


def options_of(command: list[str]) -> list[typer.core.TyperOption]:
    group = typer.main.get_command(cli)
    cmd = group
    for name in command:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return [p for p in cmd.params if isinstance(p, typer.core.TyperOption)]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in (["keys"], ["coverage"])],
                         ids=" ".join)
def test_every_option_is_described_and_shown_with_its_default(command: list[str]):
    text = help_text(command)
    for opt in options_of(command):
        assert opt.help, f"{opt.opts[0]} of `badgepulse {' '.join(command)}` has no help"
        if not opt.required and not opt.is_flag and opt.show_default is not False:
            # the default, or what stands for it, is printed beside the option
            assert opt.show_default or opt.default is not None, opt.opts[0]
    if command == ["api"]:
        assert "[default: ($BADGEPULSE_API_PORT, else 8000)]" in text
        assert "[default: ($BADGEPULSE_API_HOST, else 127.0.0.1)]" in text
    if command == ["up"]:
        assert "Port of the API [default: 8000]" in text
    if command == ["simulate"]:
        assert "[default: 7]" in text and "[default: 10000]" in text


def test_closed_sets_are_choices_listed_in_the_help():
    role = help_text(["keys", "create"])
    for r in ("org_admin", "issuer", "publisher"):
        assert r in role
    types = help_text(["coverage", "set"])
    for t in ("award.accepted", "award.visibility_changed", "issuer.created"):
        assert t in types


@pytest.mark.parametrize("args, says", [
    (["keys", "create", "--org", "acme", "--role", "admin"], "'admin' is not one of"),
    (["keys", "create", "--role", "org_admin"], "Missing option '--org'"),
    (["simulate", "--org", "acme", "--events", "-5"], "'--events'"),
    (["simulate", "--org", "acme", "--rate", "0"], "must be above 0"),
    (["coverage", "set", "--org", "acme", "--type", "award.issue", "--day", "2026-01-01"],
     "'award.issue' is not one of"),
    (["coverage", "set", "--org", "acme", "--type", "award.issued", "--day", "2026-13-01"],
     "'2026-13-01' is not a date"),
    (["up", "--port", "70000"], "'--port'"),
    (["nosuchcommand"], "No such command 'nosuchcommand'"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_line_naming_the_problem(shell, args: list[str], says: str):
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert says in err
    assert "Traceback" not in err and "╭" not in err
    assert err.startswith("badgepulse")


@pytest.mark.parametrize("args", [["keys", "list"], ["keys", "revoke", "abc"],
                                  ["keys", "create", "--org", "a", "--role", "org_admin"],
                                  ["coverage", "set", "--org", "a", "--type", "award.issued",
                                   "--day", "2026-01-01"]], ids=" ".join)
def test_no_redis_answering_is_one_line_naming_its_address(shell, args: list[str]):
    url = f"redis://127.0.0.1:{dead_port()}/0"
    code, out, err = run(*args, BADGEPULSE_REDIS_URL=url)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1, err
    assert f"nothing answers at Redis at {url} (from BADGEPULSE_REDIS_URL)" in err
    assert "badgepulse up" in err


def test_no_broker_answering_is_one_line_naming_its_address(shell):
    bootstrap = f"127.0.0.1:{dead_port()}"
    code, out, err = run("simulate", "--org", "acme", "--events", "5",
                         BADGEPULSE_KAFKA_BOOTSTRAP=bootstrap)
    assert code == 1
    assert err.count("\n") == 1, err
    assert f"nothing answers at broker at {bootstrap} (from BADGEPULSE_KAFKA_BOOTSTRAP)" in err


def write_runtime(directory: Path, pid: int, redis_url: str, bootstrap: str,
                  started_at: float = 1.0, demo: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "runtime.json").write_bytes(orjson.dumps({
        "pid": pid, "api_url": "http://127.0.0.1:1", "redis_url": redis_url,
        "kafka_bootstrap": bootstrap, "data_dir": str(directory), "demo": demo,
        "started_at": started_at}))


def gone_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_without_a_running_up_the_defaults_are_used_and_said_to_be_defaults(shell):
    t = find_target(Settings())
    assert t.settings.redis_url == "redis://127.0.0.1:6379/0"
    assert t.settings.kafka_bootstrap == "127.0.0.1:9092"
    assert f"no running `badgepulse up` found in {shell['data']}" in t.redis_from
    assert "BADGEPULSE_REDIS_URL" in t.redis_from
    assert "BADGEPULSE_KAFKA_BOOTSTRAP" in t.kafka_from


def test_a_runtime_file_left_by_a_killed_up_is_ignored(shell):
    write_runtime(Path(shell["data"]), gone_pid(), "redis://127.0.0.1:1111/0", "127.0.0.1:2222")
    write_runtime(Path(shell["tmp"]) / f"{DEMO_DIR_PREFIX}old", gone_pid(),
                  "redis://127.0.0.1:3333/0", "127.0.0.1:4444", demo=True)
    t = find_target(Settings())
    assert t.settings.redis_url == "redis://127.0.0.1:6379/0"
    assert t.settings.kafka_bootstrap == "127.0.0.1:9092"


def test_the_running_up_of_the_data_dir_comes_before_a_running_demo(shell):
    write_runtime(Path(shell["tmp"]) / f"{DEMO_DIR_PREFIX}a", os.getpid(),
                  "redis://127.0.0.1:3333/0", "127.0.0.1:4444", started_at=9e9, demo=True)
    t = find_target(Settings())
    assert (t.settings.redis_url, t.settings.kafka_bootstrap) == (
        "redis://127.0.0.1:3333/0", "127.0.0.1:4444")
    assert t.redis_from == f"the running `badgepulse up --demo`, pid {os.getpid()}"
    write_runtime(Path(shell["data"]), os.getpid(), "redis://127.0.0.1:1111/0",
                  "127.0.0.1:2222")
    t = find_target(Settings())
    assert (t.settings.redis_url, t.settings.kafka_bootstrap) == (
        "redis://127.0.0.1:1111/0", "127.0.0.1:2222")
    assert t.redis_from == f"the running `badgepulse up`, pid {os.getpid()}"


def test_the_newest_of_several_running_demos_is_used(shell):
    for name, port, started in (("a", 3333, 100.0), ("b", 5555, 200.0), ("c", 7777, 150.0)):
        write_runtime(Path(shell["tmp"]) / f"{DEMO_DIR_PREFIX}{name}", os.getpid(),
                      f"redis://127.0.0.1:{port}/0", f"127.0.0.1:{port + 1}",
                      started_at=started, demo=True)
    assert find_target(Settings()).settings.redis_url == "redis://127.0.0.1:5555/0"


def test_badgepulse_variables_win_over_a_running_up(shell, monkeypatch):
    write_runtime(Path(shell["data"]), os.getpid(), "redis://127.0.0.1:1111/0",
                  "127.0.0.1:2222")
    monkeypatch.setenv("BADGEPULSE_REDIS_URL", "redis://10.0.0.1:6379/0")
    t = find_target(Settings())
    assert t.settings.redis_url == "redis://10.0.0.1:6379/0"
    assert t.redis_from == "from BADGEPULSE_REDIS_URL"
    # only what is set is taken from the environment: the broker is still up's
    assert t.settings.kafka_bootstrap == "127.0.0.1:2222"


def test_a_running_up_that_does_not_answer_is_named_in_the_one_line(shell):
    url = f"redis://127.0.0.1:{dead_port()}/0"
    write_runtime(Path(shell["data"]), os.getpid(), url, f"127.0.0.1:{dead_port()}")
    code, _out, err = run("keys", "list")
    assert code == 1
    assert err.count("\n") == 1, err
    assert (f"nothing answers at Redis at {url} (the running `badgepulse up`, "
            f"pid {os.getpid()})") in err


def test_no_command_shows_the_help_and_nothing_on_stderr(shell):
    code, out, err = run()
    assert code == 2  # as click has it: no command is a usage error, answered with the help
    assert "Usage: badgepulse" in out and "keys" in out and "simulate" in out
    assert err == ""


def test_the_running_ups_key_prefix_and_topics_come_with_it(shell, monkeypatch):
    write_runtime(Path(shell["data"]), os.getpid(), "redis://127.0.0.1:1111/0",
                  "127.0.0.1:2222")
    info = orjson.loads((Path(shell["data"]) / "runtime.json").read_bytes())
    info.update(redis_prefix="team", topic="ev-team", dlq_topic="dlq-team")
    (Path(shell["data"]) / "runtime.json").write_bytes(orjson.dumps(info))
    t = find_target(Settings())
    assert (t.settings.redis_prefix, t.settings.topic, t.settings.dlq_topic) == (
        "team", "ev-team", "dlq-team")
    monkeypatch.setenv("BADGEPULSE_REDIS_PREFIX", "mine")
    assert find_target(Settings()).settings.redis_prefix == "mine"
