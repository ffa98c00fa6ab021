"""The production Celery app with kombu's own Redis transport instead of workers.broker's — only for the
negative control of tests/faults/test_broker_connection_loss.py (`celery -A tests.support.stock_kombu_app`)."""

from __future__ import annotations

import workers

app = workers.app
app.conf.broker_transport = None   # kombu picks its transport from the redis:// URL again
