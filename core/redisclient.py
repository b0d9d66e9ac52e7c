"""The one Redis client factory: worker, API and CLI connect through `connect`.

`BADGEPULSE_REDIS_CLUSTER=true` makes it a Redis Cluster client (redis.asyncio.cluster.
RedisCluster) found from `BADGEPULSE_REDIS_URL` naming any node; else a plain client of that
Redis. The cluster client answers every command Badgepulse sends the way the plain one does
as long as each atomic step stays within one hash slot (schemas/layout.py: an org's keys
share its tag, the rest share CONTROL_TAG; docs/cluster.md): multi-key commands are split
by slot, a non-transactional pipeline by node, a MULTI/EXEC must hold keys of one slot, a
SCAN visits every primary, classic pub/sub reaches every node. So it is handed out under
the plain client's type, which is what the callers are written against.
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from core.settings import Settings


class _Cluster(RedisCluster):
    """RedisCluster whose MULTI/EXEC pipelines go to the slot's node through a plain client
    (`_SlotTransaction`): redis-py 8.1's own cluster transaction runs every queued command
    in a thread of its own event loop, whose connections then outlive that loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._node_clients: dict[str, Redis] = {}

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        if transaction:
            return _SlotTransaction(self)
        return super().pipeline(transaction, shard_hint)

    def node_client(self, node: ClusterNode) -> Redis:
        client = self._node_clients.get(node.name)
        if client is None:
            pool = ConnectionPool(connection_class=node.connection_class,
                                  **node.connection_kwargs)
            client = self._node_clients[node.name] = Redis.from_pool(pool)
        return client

    async def aclose(self, *args: Any, **kwargs: Any) -> None:
        clients, self._node_clients = list(self._node_clients.values()), {}
        for client in clients:
            await client.aclose()
        await super().aclose(*args, **kwargs)


class _SlotTransaction:
    """A MULTI/EXEC pipeline on a cluster: commands are recorded, then sent in one
    transaction to the node owning the first command's key (all must share its slot, as
    Redis itself requires: a CROSSSLOT error otherwise)."""

    def __init__(self, cluster: _Cluster) -> None:
        self.cluster = cluster
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> _SlotTransaction:
            self.calls.append((name, args, kwargs))
            return self
        return record

    def __len__(self) -> int:
        return len(self.calls)

    async def __aenter__(self) -> _SlotTransaction:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.calls = []

    async def reset(self) -> None:
        self.calls = []

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        calls, self.calls = self.calls, []
        if not calls:
            return []
        c = self.cluster
        if c._initialize:
            await c.initialize()
        node = c.nodes_manager.get_node_from_slot(c.keyslot(calls[0][1][0]))
        pipe = c.node_client(node).pipeline(transaction=True)
        for name, args, kwargs in calls:
            getattr(pipe, name)(*args, **kwargs)
        result: list[Any] = await pipe.execute(raise_on_error)
        return result

# Options of a plain connection pool that the cluster client has no use for.
_POOL_ONLY = ("timeout",)


def connect(settings: Settings, **options: Any) -> Redis:
    """A client of the deployment's Redis (a cluster when settings.redis_cluster);
    `options` are redis-py connection options (timeouts, retry, client_name, ...)."""
    if settings.redis_cluster:
        return cast(Redis, _Cluster.from_url(settings.redis_url, **options))
    return Redis.from_url(settings.redis_url, **options)


def connect_pooled(settings: Settings, max_connections: int, timeout: float,
                   **options: Any) -> Redis:
    """The API's client: a bounded pool that waits up to `timeout` for a free connection.
    On a cluster, `max_connections` bounds each node's pool (redis-py has no waiting pool
    there: a request finding them all busy fails at once, answered 503 like a timeout)."""
    if settings.redis_cluster:
        return cast(Redis, _Cluster.from_url(settings.redis_url,
                                             max_connections=max_connections, **options))
    pool = BlockingConnectionPool.from_url(settings.redis_url, max_connections=max_connections,
                                           timeout=timeout, **options)
    return Redis.from_pool(pool)


def is_cluster(redis: Redis) -> bool:
    return isinstance(redis, RedisCluster)
