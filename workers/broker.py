"""kombu's Redis transport, with one repair: a broker connection lost while messages are unacknowledged
must not kill the worker.

Celery 5.7 on kombu 5.7, after losing the broker connection (Redis killed, restarted, failed over),
first `collect()`s the connection — which drops the transport's `client` — and then `close()`s it. The
close restores the channel's unacknowledged messages, which needs connection parameters read from that
`client`: `AttributeError: 'NoneType' object has no attribute 'hostname'`. Celery ignores only
connection errors there, so the AttributeError escapes the consumer and the worker shuts down
("Unrecoverable error"), holding its messages, with nobody left to process the queue.

Here the missing client is reported as what it is — a closed connection — so Celery ignores it and
reconnects as usual. The messages kombu could not restore stay in its `unacked` hash; the worker gives
them back itself when it reconnects (workers.reconciler). Selected with Celery's `broker_transport`.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
