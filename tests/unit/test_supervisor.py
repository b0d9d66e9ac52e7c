"""The pure parts of `badgepulse up`: restart pauses, exit descriptions, the port check."""

from __future__ import annotations

import socket

from badgepulse.supervisor import Backoff, describe_exit
from badgepulse.up import listen_problem


def test_restart_pauses_double_up_to_the_cap_and_start_over_after_a_healthy_run():
    b = Backoff(first=0.5, cap=4.0, healthy_after=30.0)
    assert [b.after_exit(ran_for=1.0) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.after_exit(ran_for=31.0) == 0.5  # it had run fine for a while: not a crash loop
    assert b.after_exit(ran_for=2.0) == 1.0


def test_a_very_long_crash_loop_stays_at_the_cap():
    b = Backoff(first=0.5, cap=30.0, healthy_after=30.0)
    assert [b.after_exit(0.0) for _ in range(2000)][-1] == 30.0


def test_exits_are_described_with_their_code_and_signal():
    assert describe_exit(-9) == "was killed by SIGKILL (exit code -9)"
    assert describe_exit(1) == "exited with code 1"
    assert describe_exit(0) == "exited with code 0"


def test_a_taken_port_is_named_with_the_option_that_changes_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        problem = listen_problem("127.0.0.1", port)
    assert problem is not None
    assert f"port {port}" in problem and "--port" in problem


def test_a_host_that_is_not_this_machines_is_named_with_the_option_that_changes_it():
    problem = listen_problem("192.0.2.1", 8000)  # TEST-NET-1: never a local address
    assert problem is not None and "192.0.2.1" in problem and "--host" in problem
    problem = listen_problem("no-such-host.invalid", 8000)
    assert problem is not None and "--host" in problem


def test_a_free_port_passes():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert listen_problem("127.0.0.1", port) is None
