"""`badgepulse up`: the whole service on one machine, supervised.

Embedded Redis and broker (unless BADGEPULSE_REDIS_URL / _KAFKA_BOOTSTRAP name running
ones), the worker and the API, each restarted with backoff when it exits. Redis keeps its
data in an append-only file under the data directory, so keys and numbers survive a
restart of `up` (the embedded broker does not keep events: the worker notices and carries
on). Everything stops on SIGINT, SIGTERM or SIGHUP, and dies with `up` if `up` is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError
from rich.console import Console

from badgepulse.embedded import free_port, port_is_free, redis_command, tansu_command
from badgepulse.supervisor import Backoff, Child, StartFailed, Supervisor, cancel
from core.redisclient import connect
from core.settings import Settings

RUNTIME_FILE = "runtime.json"
LOCK_FILE = "up.lock"
DEMO_DIR_PREFIX = "badgepulse-demo-"
DEMO_ORG = "demo"
# Signals that stop `up`: Ctrl-C, `kill`, and the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class UpError(Exception):
    """Why `up` cannot start: one line for the user, nothing started."""


def listen_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on host:port, or None. Binds every address the host
    resolves to, as uvicorn will, with SO_REUSEADDR as uvicorn does."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return f"cannot listen on host {host!r}: {e.strerror}; pick another with --host"
    for family, kind, proto, _name, addr in infos:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(addr)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    return (f"port {port} on {host} is already in use; stop what listens "
                            f"there or pick another port with --port")
                if e.errno == errno.EADDRNOTAVAIL:
                    return f"{host} is not an address of this machine; pick another with --host"
                if e.errno == errno.EACCES:
                    return f"port {port} needs privileges; pick one above 1023 with --port"
                return f"cannot listen on {host}:{port}: {e.strerror}"
    return None


def default_port(url_field: str) -> int:
    """The port a setting's default points at (6379, 9092): an embedded server there is
    found by the other commands without any BADGEPULSE_* variable."""
    default = str(Settings.model_fields[url_field].default)
    return int(default.rsplit(":", 1)[1].split("/", 1)[0])


def pick_port(preferred: int, taken: set[int]) -> int:
    port = preferred if preferred not in taken and port_is_free(preferred) else free_port()
    taken.add(port)
    return port


@dataclass
class Output:
    """Output that survives a closed terminal: after SIGHUP, writes to the tty fail (EIO),
    and that must not stop `up` from stopping what it started."""

    out: Console
    err: Console

    def say(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def show(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.out.print(text, markup=False, highlight=False, soft_wrap=True)


@dataclass
class DataDir:
    """Where Redis's append-only file and runtime.json live, held by one `up` at a time."""

    path: Path
    throwaway: bool
    lock: IO[bytes] | None = None

    @classmethod
    @contextlib.contextmanager
    def claim(cls, path: Path | None) -> Iterator[DataDir]:
        """The directory (a fresh temporary one if path is None), locked; on exit unlocked,
        runtime.json removed, and a temporary one deleted."""
        if path is None:
            cls.sweep_stale_demos()
            d = cls(Path(tempfile.mkdtemp(prefix=DEMO_DIR_PREFIX)), throwaway=True)
        else:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UpError(f"cannot use --data-dir {path}: {e.strerror}") from e
            d = cls(path, throwaway=False)
        try:
            d._lock()
        except UpError:
            if d.throwaway:
                shutil.rmtree(d.path, ignore_errors=True)
            raise
        try:
            yield d
        finally:
            # Only with the lock held: the runtime file may be another `up`'s otherwise.
            with contextlib.suppress(FileNotFoundError):
                d.runtime_file.unlink()
            if d.throwaway:
                shutil.rmtree(d.path, ignore_errors=True)
            assert d.lock is not None
            d.lock.close()

    @staticmethod
    def sweep_stale_demos() -> None:
        """Delete the directories of demo runs killed outright (SIGKILL left no one to
        delete them): those whose lock nobody holds. A minute's grace covers a run that
        created its directory but has not locked it yet."""
        for d in Path(tempfile.gettempdir()).glob(f"{DEMO_DIR_PREFIX}*"):
            try:
                if time.time() - d.stat().st_mtime < 60:
                    continue
                with open(d / LOCK_FILE, "rb") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    shutil.rmtree(d, ignore_errors=True)
            except OSError:
                continue  # in use (BlockingIOError), not ours (no lock file), or gone

    def _lock(self) -> None:
        # flock, not a pid file: the kernel drops it when its holders die, however they
        # die. Redis inherits it too, so a new `up` cannot open the same append-only file
        # while the Redis of a killed one is still writing it.
        self.lock = open(self.path / LOCK_FILE, "a+b")  # noqa: SIM115
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            holder = ""
            with contextlib.suppress(OSError, ValueError, KeyError):
                holder = f" (pid {orjson.loads(self.runtime_file.read_bytes())['pid']})"
            self.lock.close()
            self.lock = None
            raise UpError(f"another `badgepulse up`{holder} is using {self.path}; stop it "
                          f"or pick another directory with --data-dir") from e

    @property
    def runtime_file(self) -> Path:
        return self.path / RUNTIME_FILE

    def write_runtime(self, info: dict[str, object]) -> None:
        """Atomically (a reader never sees half a file)."""
        tmp = self.path / f".{RUNTIME_FILE}.tmp"
        tmp.write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.runtime_file)


def read_runtime(data_dir: Path) -> dict[str, object] | None:
    """What the `up` using data_dir wrote about itself (its pid, Redis, broker, API), or
    None if no live `up` uses it: no runtime file, an unreadable one, or one left behind by
    an `up` killed outright (its pid is gone)."""
    try:
        info = orjson.loads((data_dir / RUNTIME_FILE).read_bytes())
        pid = int(info["pid"])
        os.kill(pid, 0)
    except PermissionError:
        return dict(info)  # alive, someone else's process
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    return dict(info)


def running_ups(data_dir: Path) -> list[dict[str, object]]:
    """The live `up`s other commands may talk to: the one using data_dir first, then
    running demos (`up --demo` keeps its data in a temporary directory), newest first."""
    found = [info for info in [read_runtime(data_dir)] if info is not None]
    demos = []
    for d in Path(tempfile.gettempdir()).glob(f"{DEMO_DIR_PREFIX}*"):
        info = read_runtime(d)
        if info is not None:
            demos.append(info)
    demos.sort(key=lambda i: -float(i.get("started_at", 0) or 0))  # type: ignore[arg-type]
    return found + demos


@dataclass
class Up:
    settings: Settings
    host: str
    port: int
    demo: bool
    data: DataDir
    io: Output
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    embedded_redis: bool = False
    embedded_kafka: bool = False

    def plan_children(self) -> list[Child]:
        """The children to supervise; fixes the embedded servers' ports in env/settings."""
        s = self.settings

        def backoff() -> Backoff:
            return Backoff(s.up_restart_delay, s.up_restart_delay_max, s.up_healthy_after)

        taken = {self.port}
        out: list[Child] = []
        if "BADGEPULSE_REDIS_URL" not in self.env:
            self.embedded_redis = True
            port = pick_port(default_port("redis_url"), taken)
            self.env["BADGEPULSE_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            redis_dir = self.data.path / "redis"
            redis_dir.mkdir(exist_ok=True)
            assert self.data.lock is not None
            # SIGTERM when `up` dies: Redis then fsyncs its append-only file before exiting.
            out.append(Child("redis", redis_command(port, redis_dir, durable=True), tier=0,
                             backoff=backoff(), deathsig=signal.SIGTERM, port=port,
                             on_ready=self._redis_loaded, pass_fds=(self.data.lock.fileno(),),
                             # Replaying a large append-only file takes a while.
                             quiet=True, ready_timeout=600))
        if "BADGEPULSE_KAFKA_BOOTSTRAP" not in self.env:
            self.embedded_kafka = True
            port = pick_port(default_port("kafka_bootstrap"), taken)
            self.env["BADGEPULSE_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{port}"
            out.append(Child("broker", tansu_command(port), tier=0, backoff=backoff(),
                             port=port, on_ready=self._topics, quiet=True))
        self.settings = s.model_copy(update={
            "redis_url": self.env["BADGEPULSE_REDIS_URL"],
            "kafka_bootstrap": self.env["BADGEPULSE_KAFKA_BOOTSTRAP"]})
        exe = [sys.executable, "-m", "badgepulse.cli"]
        out.append(Child("worker", [*exe, "worker"], tier=1, backoff=backoff(), env=self.env))
        out.append(Child("api", [*exe, "api", "--host", self.host, "--port", str(self.port)],
                         tier=1, backoff=backoff(), env=self.env, port=self.port))
        return out

    async def _redis_loaded(self) -> None:
        """Redis answers LOADING while it replays a big append-only file."""
        async with connect(self.settings) as redis:
            while True:
                try:
                    await redis.ping()
                    return
                except RedisError:
                    await asyncio.sleep(0.1)

    async def _topics(self) -> None:
        """An embedded broker (re)starts empty: create the topics before anyone needs them."""
        from core.kafka import ensure_topics

        while True:
            try:
                await asyncio.wait_for(ensure_topics(self.settings), 10)
                return
            except (KafkaError, OSError) as err:
                self.io.say(f"broker: creating topics: {err!r}; retrying")
                await asyncio.sleep(0.5)

    async def run(self) -> int:
        """Until a stop signal (0) or a failed start (1)."""
        stopped = asyncio.Event()
        received: list[signal.Signals] = []

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig)
            stopped.set()

        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        sup = Supervisor(self.plan_children(), self.io.say)
        serve = asyncio.create_task(self._serve(sup))
        wait_stop = asyncio.create_task(stopped.wait())
        try:
            await asyncio.wait({serve, wait_stop}, return_when=asyncio.FIRST_COMPLETED)
            failure = serve.exception() if serve.done() else None
            if isinstance(failure, StartFailed):
                self.io.say(f"could not start: {failure}; stopping")
                return 1
            if failure is not None:
                raise failure
            self.io.say(f"stopping ({received[0].name if received else 'done'})")
            return 0
        finally:
            await cancel([serve, wait_stop])
            await sup.stop_watching()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
                # A second Ctrl-C must not cut the clean-up short (children are stopped in
                # bounded time; then the temporary directory goes).
                signal.signal(sig, signal.SIG_IGN)
            sup.stop()

    async def _serve(self, sup: Supervisor) -> None:
        await sup.start()
        sup.watch()
        s = self.settings
        if self.embedded_kafka:
            self.io.say(f"broker (embedded Tansu) on {s.kafka_bootstrap}")
        if self.embedded_redis:
            self.io.say(f"redis (embedded) on {s.redis_url}")
        url = f"http://{self.host}:{self.port}"
        self.data.write_runtime({
            "pid": os.getpid(), "api_url": url, "redis_url": s.redis_url,
            "kafka_bootstrap": s.kafka_bootstrap, "redis_prefix": s.redis_prefix,
            "topic": s.topic, "dlq_topic": s.dlq_topic, "consumer_group": s.consumer_group,
            "data_dir": str(self.data.path),
            "demo": self.demo, "started_at": time.time()})
        self.io.show(f"Badgepulse is up: {url}  (API docs: {url}/docs)")
        if self.demo:
            await self._demo(url)
        else:
            await self._key_hint()
            await asyncio.Event().wait()  # supervise until stopped

    async def _key_hint(self) -> None:
        from core.keys import list_keys
        from schemas.layout import Layout

        s = self.settings
        async with connect(s) as redis:
            keys = [k for k in await list_keys(redis, Layout(s.redis_prefix)) if not k.revoked]
        # The other commands find this `up` through its runtime file in the data directory
        # they look at ($BADGEPULSE_DATA_DIR, else the default): name another one.
        here = self.data.path.resolve()
        prefix = ("" if here == Path(s.data_dir).resolve()
                  else f"BADGEPULSE_DATA_DIR={shlex.quote(str(here))} ")
        command = f"{prefix}badgepulse keys create --org ORG --role org_admin"
        if self.embedded_redis:
            self.io.show(f"data: {self.data.path} (kept across restarts)")
        if keys:
            self.io.show(f"{len(keys)} active API key(s) from before; another: {command}")
        else:
            self.io.show(f"create a first key: {command}")

    async def _demo(self, url: str) -> None:
        from badgepulse import demo
        from badgepulse.ops import make_key

        s = self.settings
        token = await make_key(s, DEMO_ORG, "org_admin")
        self.io.show(f"demo key (org '{DEMO_ORG}', org_admin): {token}")
        self.io.show(f"try: curl -H 'Authorization: Bearer {token}' "
                     f"{url}/v1/orgs/{DEMO_ORG}/summary")
        # A history to look at, then the same program going on in real time.
        await demo.run_demo(s, DEMO_ORG, self.io.err, self.io.say)


def run_up(settings: Settings, host: str, port: int, demo: bool, data_dir: Path | None,
           out: Console, err: Console) -> int:
    """`badgepulse up`; returns the exit code. Checks come before anything is printed or
    started, so a taken port costs one line and nothing else."""
    io = Output(out, err)
    try:
        if demo and data_dir is not None:
            raise UpError("--demo keeps nothing, so it takes no --data-dir")
        problem = listen_problem(host, port)
        if problem:
            raise UpError(problem)
        with DataDir.claim(None if demo else data_dir or settings.data_dir) as data:
            return asyncio.run(Up(settings, host, port, demo, data, io).run())
    except UpError as e:
        io.say(f"badgepulse up: {e}")
        return 1
    except KeyboardInterrupt:
        return 130  # Ctrl-C before anything was started
