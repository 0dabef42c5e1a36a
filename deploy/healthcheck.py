"""Container health checks for the hotline image (used by docker-compose.yml).

    python healthcheck.py http URL   healthy when GET URL answers 2xx (the gateway's /healthz)
    python healthcheck.py worker     healthy when Temporal lists this container as a poller of
                                     the task queue (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
                                     HOTLINE_TASK_QUEUE)

Exit code 0 is healthy, 1 unhealthy; one line on stderr says why. Standard library plus the
temporalio SDK only, so it runs in the slim runtime image without curl.
"""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import urllib.request


def check_http(url: str, timeout: float = 4.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - fixed URL
            if 200 <= resp.status < 300:
                return None
            return f"{url} answered {resp.status}"
    except Exception as exc:  # any failure is "unhealthy", with the reason
        return f"{url}: {exc}"


def poller_matches(identity: str, hostname: str) -> bool:
    """The SDK's default worker identity is `<pid>@<hostname>`; a container's hostname is
    its id, so this picks out this replica among all the workers of the task queue."""
    return identity == hostname or identity.endswith("@" + hostname)


async def _pollers(address: str, namespace: str, task_queue: str) -> list[str]:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    from hotline.runtime.temporal_tls import load_tls

    client = await Client.connect(address, namespace=namespace, tls=load_tls() or False)  # mTLS as the worker
    identities: list[str] = []
    for kind in (
        TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ):
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            )
        )
        identities.extend(p.identity for p in resp.pollers)
    return identities


def check_worker(env: dict[str, str], hostname: str, timeout: float = 8.0) -> str | None:
    address = env.get("TEMPORAL_ADDRESS") or "localhost:7233"
    namespace = env.get("TEMPORAL_NAMESPACE") or "default"
    task_queue = env.get("HOTLINE_TASK_QUEUE") or "hotline"
    try:
        identities = asyncio.run(
            asyncio.wait_for(_pollers(address, namespace, task_queue), timeout)
        )
    except Exception as exc:
        return f"cannot describe task queue {task_queue!r} at {address}: {exc!r}"
    if any(poller_matches(i, hostname) for i in identities):
        return None
    return f"{hostname} is not polling task queue {task_queue!r} (pollers: {identities})"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "http":
        problem = check_http(argv[1])
    elif argv == ["worker"]:
        problem = check_worker(dict(os.environ), socket.gethostname())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: skip interpreter finalization, during which the SDK's native runtime threads
    # can abort the process and turn a healthy answer into exit code 134.
    os._exit(code)
