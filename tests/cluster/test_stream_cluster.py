"""Stream tests run unchanged against the local Redis Cluster: tests/cluster/conftest.py
gives them cluster settings and client under the fixture names they ask for (a worker then
commits org by org, docs/cluster.md; the API's live updates ride the cluster's pub/sub)."""

from tests.e2e.test_live import (  # noqa: F401  # collected here, on the cluster
    test_an_open_live_stream_sees_a_new_award_within_seconds,
)
from tests.stream.test_correctness import (  # noqa: F401
    test_counts_stay_exact_when_the_worker_is_killed_three_times,
)
from tests.stream.test_faults import (  # noqa: F401
    test_a_rebuild_under_live_ingest_ends_exact_and_readers_never_see_it_half_built,
)
