"""The scheduled deployment on a real Prefect server: `prefect.yaml` deploys, a process
worker runs a triggered run, and the API shows the run, its tasks, its artifacts and the
configured schedule. The server and worker are started here and stopped by their PIDs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import handbuilt
import pytest
from cli_runs import free_port

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).parent / "prefect")
EXPECTED_TASKS = {
    "load-config",
    "read-run-history",
    "stage-accounts",
    "stage-events",
    "validate-accounts",
    "validate-events",
    "data-quality-gate",
    "normalise-sources",
    "split-into-shards",
    "score-shard-0",
    "combine-shards",
    "select-targets",
    "compare-with-last-run",
    "write-outputs",
    "publish-outputs",
    "publish-run-summary",
    "alert-new-sql-ready",
}


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "ABMQ_HOME": str(ROOT),
    }
    log = (home / "server.log").open("w")
    process = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"the Prefect server did not start: {(home / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield env
    stop(process)
    assert process.poll() is not None


def run(env, *args, timeout=180):
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_deploy_schedule_trigger_and_inspect_through_the_api(server, tmp_path):
    data = handbuilt.write(tmp_path / "input")
    out, out_dask = tmp_path / "out", tmp_path / "out-dask"
    run(server, PREFECT, "work-pool", "create", "abm-process", "--type", "process")
    run(server, PREFECT, "--no-prompt", "deploy", "--all")
    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "abm-process"],
        env=server,
        cwd=ROOT,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        script = textwrap.dedent(f"""
            import asyncio, json
            from prefect.client.orchestration import get_client
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, FlowRunFilterId
            from prefect.deployments import run_deployment

            flow_run = run_deployment(
                "qualify-accounts/daily",
                parameters={{"input_dir": {str(data)!r}, "out_dir": {str(out)!r}, "as_of": "{handbuilt.AS_OF.isoformat()}"}},
                timeout=240,
            )
            on_dask = run_deployment(
                "qualify-accounts/daily-dask",
                parameters={{"input_dir": {str(data)!r}, "out_dir": {str(out_dask)!r}, "as_of": "{handbuilt.AS_OF.isoformat()}", "shards": 3}},
                timeout=240,
            )

            async def inspect():
                async with get_client() as client:
                    deployment = await client.read_deployment_by_name("qualify-accounts/daily")
                    monthly = await client.read_deployment_by_name("calibrate-scoring/monthly")
                    dask_deployment = await client.read_deployment_by_name("qualify-accounts/daily-dask")
                    dask_tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[on_dask.id])))
                    tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
                    artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id])))
                    return {{
                        "state": flow_run.state.type.value,
                        "message": flow_run.state.message,
                        "tasks": sorted({{t.name for t in tasks}}),
                        "task_states": sorted({{t.state.type.value for t in tasks}}),
                        "artifacts": sorted(a.key for a in artifacts if a.key),
                        "schedules": [{{"cron": s.schedule.cron, "timezone": s.schedule.timezone, "active": s.active}} for s in deployment.schedules],
                        "monthly": [{{"cron": s.schedule.cron, "timezone": s.schedule.timezone, "active": s.active}} for s in monthly.schedules],
                        "monthly_parameters": monthly.parameters,
                        "monthly_pool": monthly.work_pool_name,
                        "dask_state": on_dask.state.type.value,
                        "dask_message": on_dask.state.message,
                        "dask_shards": sorted(t.name for t in dask_tasks if t.name.startswith("score-shard-") and t.state.type.value == "COMPLETED"),
                        "dask_schedules": len(dask_deployment.schedules),
                    }}

            print(json.dumps(asyncio.run(inspect())))
        """)
        found = json.loads(run(server, sys.executable, "-c", script, timeout=300).strip().splitlines()[-1])
    finally:
        stop(worker)
    assert found["state"] == "COMPLETED", found["message"]
    # task runs are named after their task, plus a short random suffix unless the task names its runs
    names = {re.sub(r"-[0-9a-f]{3}$", "", name) for name in found["tasks"]}
    assert EXPECTED_TASKS <= names, names
    assert found["task_states"] == ["COMPLETED"]
    assert {"abm-qualification-summary", "abm-top-targets"} <= set(found["artifacts"])
    assert found["schedules"] == [{"cron": "0 6 * * *", "timezone": "Europe/London", "active": True}]
    # the calibration is deployed too: monthly, same pool, writing to its own folder
    assert found["monthly"] == [{"cron": "0 7 1 * *", "timezone": "Europe/London", "active": True}]
    assert found["monthly_pool"] == "abm-process"
    assert found["monthly_parameters"]["out_dir"] == "runs/calibration"
    assert (out / "report.html").exists()
    # the Dask deployment: unscheduled, shards scored on a local cluster the run starts,
    # reporting to the same server; the same target list as the daily deployment's
    assert found["dask_state"] == "COMPLETED", found["dask_message"]
    assert found["dask_shards"] == ["score-shard-0", "score-shard-1", "score-shard-2"]
    assert found["dask_schedules"] == 0
    assert (out_dask / "targets.csv").read_bytes() == (out / "targets.csv").read_bytes()
