"""The one settings object. Built by get_settings(); nothing reads the environment elsewhere."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_path
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.limits import MAX_EVENT_BYTES, EventLimits


class Settings(BaseSettings):
    """Every knob of Badgepulse, read from `BADGEPULSE_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="BADGEPULSE_", extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="host:port[,host:port] of the Kafka-compatible broker"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis holding the aggregates")
    redis_prefix: str = Field("bp", description="prefix of every Redis key (tests use their own)")
    redis_cluster: bool = Field(
        False, description="BADGEPULSE_REDIS_URL names any node of a Redis Cluster: the worker "
                           "commits org by org, each org's keys in one slot (docs/cluster.md)")
    commit_by_org: bool = Field(
        False, description="worker: commit org by org on a standalone Redis too, as on a cluster "
                           "(slower there; bench/README.md)")

    topic: str = "badge-events"
    dlq_topic: str = "badge-events-dlq"
    partitions: int = Field(8, ge=1, description="partitions of the events topic when created")
    consumer_group: str = "badgepulse-aggregator"

    batch_max: int = Field(20_000, ge=1, description="most events taken from Kafka in one poll")
    batch_within_ms: int = Field(50, ge=1, description="longest wait to fill a batch")
    hold_seconds: int = Field(7 * 86400, ge=1, description="how long an orphan award event waits")
    dedup_days: int = Field(7, ge=1, description="window in which a repeated event_id is ignored")
    award_cache: int = Field(
        200_000, ge=1_000, description="worker: award states held in memory, all partitions "
                                       "together (the oldest half is dropped when full)")

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    worker_web_port: int = Field(0, description="Faust web port of the worker; 0 disables it")

    broker_session_timeout: float = 6.0
    broker_rebalance_timeout: float = 3.0
    broker_heartbeat_interval: float = 1.0

    gc_gen0_threshold: int = Field(
        20_000, ge=0, description="API process: allocations between young-generation "
                                  "collections (0 keeps CPython's default)")

    # API process: how it rides out Redis trouble (api/faults.py).
    redis_retries: int = Field(
        3, ge=0, description="retries of a Redis command that met a dead or refused connection")
    redis_backoff_cap: float = Field(
        0.5, gt=0, description="longest pause (s) between those retries (exponential, jittered)")
    redis_socket_timeout: float = Field(
        3.0, gt=0, description="seconds a Redis reply may take before the request gets 503")
    redis_connect_timeout: float = Field(2.0, gt=0, description="seconds to connect to Redis")
    redis_health_check_interval: int = Field(
        10, ge=0, description="a pooled connection idle this long (s) is PINGed before use")
    redis_max_connections: int = Field(
        100, ge=2, description="Redis connections of one API process (the pool's size)")
    redis_pool_timeout: float = Field(
        2.0, gt=0, description="seconds a request waits for a free pooled connection")
    retry_after: int = Field(
        2, ge=1, description="Retry-After (s) of a 503 while Redis is unavailable")

    # API process: what one key may take (api/limits.py, api/live_hub.py). Per process.
    live_streams_per_key: int = Field(
        20, ge=1, description="open GET {S}/live streams of one key (more: 429)")
    key_rate: float = Field(50.0, gt=0, description="requests per second of one key (sustained)")
    key_burst: int = Field(100, ge=1, description="requests one key may send at once")
    auth_cache_ttl: float = Field(
        0.5, ge=0, le=1.0, description="seconds a verified key is trusted without asking Redis "
                                       "(at most 1: a revoked key stops within 1 s)")
    live_key_check_interval: float = Field(
        0.5, gt=0, le=1.0, description="seconds between checks that open streams' keys are live")
    # API process: reads (api/readers/answers.py, api/server.py; bench/README.md).
    answer_cache_mb: int = Field(
        64, ge=0, description="MB of whole answers an API process keeps, checked against the "
                              "org's data version on every request (0: every read is cold)")
    answer_stale_ms: int = Field(
        250, ge=0, le=1000,
        description="ms an answer may lag its org's newest commit: a cached answer is served "
                    "while one request recomputes it (0: exact, every commit recomputes; "
                    "api/readers/answers.py)")
    api_workers: int = Field(
        1, ge=1, description="`badgepulse api`: server processes sharing the port")

    # `badgepulse up` (badgepulse/up.py).
    data_dir: Path = Field(
        default_factory=lambda: user_data_path("badgepulse"),
        description="where `up` keeps Redis's append-only file and runtime.json "
                    "($XDG_DATA_HOME/badgepulse, else ~/.local/share/badgepulse)")
    up_restart_delay: float = Field(
        0.5, gt=0, description="`up`: pause (s) before restarting a component that exited; "
                               "doubles with each exit in a row")
    up_restart_delay_max: float = Field(
        30.0, gt=0, description="`up`: longest pause (s) before such a restart")
    up_healthy_after: float = Field(
        30.0, gt=0, description="`up`: a component that ran this long (s) before exiting "
                                "is restarted after the first pause again")

    # API process: alerts (api/alerting/; insights.md, README "Alerts").
    alerts_enabled: bool = Field(
        True, description="run the alert loops in this API process (off: another process "
                          "must run them)")
    alert_allow_hosts: str = Field(
        "", description="comma-separated webhook hosts exempt from the https-only and "
                        "no-private-address rules (an on-premises receiver, tests)")
    alert_eval_interval: float = Field(
        30.0, gt=0, le=60, description="seconds between evaluations of every alert "
                                       "(insights.md: at least once a minute)")
    alert_poll_interval: float = Field(
        1.0, gt=0, description="seconds between looks for due deliveries")
    alert_send_timeout: float = Field(
        10.0, gt=0, description="seconds a webhook has to answer before the attempt fails")
    alert_lease: float = Field(
        60.0, gt=0, description="seconds a process holds a delivery it is sending; a "
                                "process killed mid-send leaves it to another after this "
                                "(keep it well above alert_send_timeout)")
    alert_backoff_base: float = Field(
        60.0, gt=0, description="seconds before the first retry of a failed delivery "
                                "(doubling each time)")
    alert_backoff_cap: float = Field(
        6 * 3600.0, gt=0, description="longest pause (s) between two retries")
    alert_retry_horizon: float = Field(
        24 * 3600.0, gt=0, description="seconds after which a delivery is given up")
    alerts_per_org: int = Field(100, ge=1, description="most alerts one org may have")

    ingest_max_events: int = 10_000
    ingest_max_bytes: int = 5 * 1024 * 1024
    event_max_bytes: int = Field(
        MAX_EVENT_BYTES, ge=1024,
        description="largest event (bytes) either way in accepts; keep it below the broker's "
                    "message.max.bytes (1 MiB by default) minus room for key and headers")

    @property
    def event_limits(self) -> EventLimits:
        """What decode_event enforces in the API and in the worker alike."""
        return EventLimits(max_bytes=self.event_max_bytes)


@lru_cache
def get_settings() -> Settings:
    return Settings()
