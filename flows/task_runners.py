"""Where the flow's parallel tasks (the shards) run: threads in this process by default,
or a Dask cluster through prefect-dask, local or at a scheduler address."""

from __future__ import annotations

from prefect import Flow

TASK_RUNNERS = ("thread", "dask")


def temporary_server_url() -> str | None:
    """The API of the temporary server Prefect starts in this process when no PREFECT_API_URL
    is set (a per-process singleton in prefect 3; internal, hence the pin below 4)."""
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer._instances.get(None)
    return server.api_url if server is not None and server.server_process is not None else None


def local_dask_runner(workers: int):
    """A DaskTaskRunner whose local worker processes report to this run's Prefect API, even
    the temporary one Prefect starts when PREFECT_API_URL is unset (workers would otherwise
    start temporary servers of their own and their task runs would be lost)."""
    from prefect.settings import get_current_settings
    from prefect_dask import DaskTaskRunner

    class LocalDaskTaskRunner(DaskTaskRunner):
        # its workers are processes on this machine: they can keep frames in the run's
        # staging folder and hand back scans of them (`flows.qualify._spill`)
        shares_disk = True

        def __enter__(self):
            url = get_current_settings().api.url or temporary_server_url()
            if url:
                self.cluster_kwargs["env"] = {**self.cluster_kwargs.get("env", {}), "PREFECT_API_URL": str(url)}
            return super().__enter__()

    return LocalDaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        # one thread per worker: polars inside a task already uses the cores
        cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None},
    )


def with_task_runner(flow: Flow, kind: str = "thread", address: str | None = None, workers: int = 2) -> Flow:
    """The flow with its task runner swapped (the decorator stays as it is). `dask` without an
    address starts a local cluster of `workers` processes for the run and stops it after;
    with an address it uses that scheduler (its workers need this project installed and
    PREFECT_API_URL pointing at the same Prefect server)."""
    if kind == "thread":
        return flow
    if kind != "dask":
        raise ValueError(f"task runner must be one of {TASK_RUNNERS}, not {kind!r}")
    from prefect_dask import DaskTaskRunner

    return flow.with_options(task_runner=DaskTaskRunner(address=address) if address else local_dask_runner(workers))
