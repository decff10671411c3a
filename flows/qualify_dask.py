"""The qualification flow with its shards on Dask, for deployments (a deployment
cannot switch task runner by parameter). Entrypoint: flows/qualify_dask.py:qualify_on_dask.
ABMQ_DASK_ADDRESS names a running scheduler (tcp://host:8786); without it each run starts
a local cluster of ABMQ_DASK_WORKERS workers (default 2)."""

from __future__ import annotations

import os

from abmq.flows.qualify import qualify
from abmq.flows.task_runners import with_task_runner

qualify_on_dask = with_task_runner(
    qualify, "dask", address=os.environ.get("ABMQ_DASK_ADDRESS") or None, workers=int(os.environ.get("ABMQ_DASK_WORKERS", "2"))
)
