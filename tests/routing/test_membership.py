"""Membership against the real vllm-router binary: only healthy replicas join, draining ones leave at once."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from llmdeploy.plan.routing import WORKER_STARTUP_TIMEOUT_S
from llmdeploy.routing.fleet import Fleet
from llmdeploy.routing.membership import Membership, Replica, RouterAdmin
from llmdeploy.routing.scaleup import aws_set_desired_capacity, gcp_resize_mig
from llmdeploy.routing.sources import aws_replicas, aws_state, azure_state, gcp_replicas, gcp_state
from tests.emulator.builders import subnet_and_template
from tests.fixtures_aws import AwsClient
from tests.routing.test_hold import Engine, ask, gate_over, run, serve

pytestmark = pytest.mark.process

ROUTER = shutil.which("vllm-router") or shutil.which("vllm-router", path=str(Path(sys.executable).parent))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def vllm_router() -> Iterator[str]:
    """The real vllm-router on loopback, with no workers; its base URL."""
    if ROUTER is None:
        pytest.skip("vllm-router is not installed (pip install vllm-router==0.1.17)")
    port = free_port()
    args = [ROUTER, "--host", "127.0.0.1", "--port", str(port), "--prometheus-port", str(free_port())]
    args += ["--policy", "cache_aware", "--worker-startup-timeout-secs", str(WORKER_STARTUP_TIMEOUT_S)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("vllm-router did not listen within 30 s")
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def router() -> Iterator[str]:
    with vllm_router() as url:
        yield url


@asynccontextmanager
async def engines(count: int) -> AsyncIterator[list[tuple[Engine, str]]]:
    async with AsyncExitStack() as stack:
        found = []
        for _ in range(count):
            engine = Engine()
            found.append((engine, await stack.enter_async_context(serve(engine.app()))))
        yield found


def drain(engine: Engine) -> None:
    """What the replica's proxy does on a spot notice: health and every request answer 503."""
    engine.healthy = False
    engine.fail_first = 10**6


def test_only_healthy_replicas_join_and_a_draining_one_leaves_in_one_pass(router: str) -> None:
    async def scenario() -> None:
        async with engines(3) as found, aiohttp.ClientSession() as session:
            (a, a_url), (_, b_url), (c, c_url) = found
            c.healthy = False  # the cloud calls it in service, but its engine still loads the weights
            cloud = {a_url: "ready", b_url: "booting", c_url: "ready"}

            def source() -> list[Replica]:
                return [Replica(url, "blue", state) for url, state in cloud.items()]  # type: ignore[arg-type]

            fleet = Fleet()
            admin = RouterAdmin(session, router)
            members = Membership("blue", source, admin, fleet, session, health_path="/health")
            assert await members.sync_once() == {a_url}
            assert await admin.workers() == {a_url} and fleet.ready("blue") == {a_url}

            cloud[b_url] = "ready"
            assert await members.sync_once() == {a_url, b_url}

            drain(a)
            started = time.monotonic()
            assert await members.sync_once() == {b_url}
            assert time.monotonic() - started < 2.0, "a draining replica leaves in one quick pass"
            before = a.served
            answers = [await ask(session, router, stream=False) for _ in range(8)]
            assert [status for status, _, _ in answers] == [200] * 8 and a.served == before

            cloud[b_url] = "draining"  # the cloud deregisters it before its proxy notices
            assert await members.sync_once() == set() and await admin.workers() == set()
            assert fleet.count() == 0

    run(scenario())


def test_a_request_at_zero_is_held_at_the_gate_and_served_once_membership_adds_a_replica(
    router: str,
) -> None:
    async def scenario() -> None:
        async with engines(1) as [(engine, url)], aiohttp.ClientSession() as session:
            cloud: dict[str, str] = {}

            def source() -> list[Replica]:
                return [Replica(u, "blue", state) for u, state in cloud.items()]  # type: ignore[arg-type]

            async with gate_over(engine, lambda: cloud.update({url: "ready"}), router=router) as setup:
                admin = RouterAdmin(session, router)
                members = Membership("blue", source, admin, setup.fleet, session, "/health")
                sync = asyncio.ensure_future(members.run(0.2))
                try:
                    status, _, body = await ask(session, setup.gate, stream=True)
                finally:
                    sync.cancel()
        assert status == 200 and body.startswith(b": keep-alive") and body.endswith(b"data: [DONE]\n\n")
        assert engine.served == 1

    run(scenario())


def test_cloud_states_map_to_ready_only_when_in_service_and_healthy() -> None:
    assert aws_state("InService", "healthy") == "ready"
    assert aws_state("Pending", None) == "booting" and aws_state("InService", "initial") == "booting"
    assert aws_state("Terminating:Wait", "healthy") == "draining"
    assert aws_state("InService", "draining") == "draining"
    assert gcp_state("NONE", "HEALTHY") == "ready" and gcp_state("CREATING", None) == "booting"
    assert gcp_state("DELETING", "HEALTHY") == "draining"
    assert azure_state("Succeeded", "HealthState/healthy") == "ready"
    assert (
        azure_state("Creating", None) == "booting"
        and azure_state("Deleting", "HealthState/healthy") == "draining"
    )


def test_the_aws_hook_wakes_a_group_at_zero_once_and_the_reader_finds_its_replica(
    aws_client: AwsClient, unique_name: str
) -> None:
    subnet, template = subnet_and_template(aws_client, unique_name, cidr="10.77")
    ec2, elbv2, autoscaling = aws_client("ec2"), aws_client("elbv2"), aws_client("autoscaling")
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    group = elbv2.create_target_group(Name=unique_name, Protocol="HTTP", Port=8080, VpcId=vpc)
    target_group = group["TargetGroups"][0]["TargetGroupArn"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=unique_name,
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateId": template},
        VPCZoneIdentifier=subnet,
        TargetGroupARNs=[target_group],
    )
    assert aws_replicas(autoscaling, elbv2, ec2, unique_name, target_group, 8080, "green") == []

    aws_set_desired_capacity(autoscaling, unique_name, 2)
    aws_set_desired_capacity(autoscaling, unique_name, 1)  # a second burst never lowers the group
    described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[unique_name])
    assert described["AutoScalingGroups"][0]["DesiredCapacity"] == 2

    replicas = aws_replicas(autoscaling, elbv2, ec2, unique_name, target_group, 8080, "green")
    assert len(replicas) == 2 and {replica.slot for replica in replicas} == {"green"}
    assert all(
        replica.url.startswith("http://10.77.") and replica.url.endswith(":8080") for replica in replicas
    )
    # The emulator registers the group's instances healthy at once; a real target starts `initial`.
    assert {replica.state for replica in replicas} == {"ready"}


def test_the_agent_process_holds_until_a_static_replica_turns_healthy(router: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = Engine(healthy=False)  # the replica's engine is still loading
        async with serve(engine.app()) as url, aiohttp.ClientSession() as session:
            port = free_port()
            spec = {
                "cloud": "static",
                "listen_port": port,
                "budget_s": 30,
                "queue_limit": 10,
                "keepalive_s": 0.2,
                "per_replica_concurrency": 4,
                "sync_interval_s": 0.2,
                "slots": {"blue": {"router": router, "weight": 100, "replicas": [url]}},
            }
            (tmp_path / "agent.json").write_text(json.dumps(spec), encoding="utf-8")
            agent = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "llmdeploy.routing.agent", str(tmp_path / "agent.json")
            )
            try:
                gate = f"http://127.0.0.1:{port}"
                await wait_listening(port)
                asked = asyncio.ensure_future(ask(session, gate, stream=True))
                await asyncio.sleep(1.0)
                assert not asked.done(), "held while the replica is not healthy"
                engine.healthy = True
                status, _, body = await asked
            finally:
                agent.terminate()
                await agent.wait()
        assert status == 200 and body.startswith(b": keep-alive") and body.endswith(b"data: [DONE]\n\n")

    run(scenario())


def test_a_sighup_applies_new_slot_weights_exactly(router: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with engines(2) as [(blue, blue_url), (green, green_url)], aiohttp.ClientSession() as session:
            port = free_port()
            spec_path = tmp_path / "agent.json"

            def write(blue_weight: int) -> None:
                slots = {
                    "blue": {"router": router, "weight": blue_weight, "replicas": [blue_url]},
                    "green": {"router": green_router, "weight": 100 - blue_weight, "replicas": [green_url]},
                }
                spec = {"cloud": "static", "listen_port": port, "budget_s": 30, "queue_limit": 10}
                spec |= {
                    "keepalive_s": 1,
                    "per_replica_concurrency": 4,
                    "sync_interval_s": 0.2,
                    "slots": slots,
                }
                spec_path.write_text(json.dumps(spec), encoding="utf-8")

            with vllm_router() as green_router:
                write(100)
                agent = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "llmdeploy.routing.agent", str(spec_path)
                )
                try:
                    gate = f"http://127.0.0.1:{port}"
                    await wait_listening(port)
                    for _ in range(10):
                        assert (await ask(session, gate, stream=False))[0] == 200
                    assert (blue.served, green.served) == (10, 0)
                    write(30)
                    agent.send_signal(signal.SIGHUP)
                    await asyncio.sleep(0.5)
                    for _ in range(10):
                        assert (await ask(session, gate, stream=False))[0] == 200
                finally:
                    agent.terminate()
                    await agent.wait()
        assert (blue.served, green.served) == (13, 7)

    run(scenario())


def test_the_agent_refuses_a_bad_spec_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "agent.json").write_text('{"cloud": "ibm"}', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "llmdeploy.routing.agent", str(tmp_path / "agent.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "not a valid router agent spec" in done.stderr and "cloud" in done.stderr
    assert "Traceback" not in done.stderr


async def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise AssertionError(f"the agent did not listen on {port} within 20 s")


class ComputeStandIn:
    """The Compute Engine REST API on loopback: one regional MIG and its backend service's health."""

    def __init__(self) -> None:
        self.target_size = 0
        self.resizes: list[str] = []
        base = "https://compute.googleapis.com/compute/v1/projects/demo/zones/us-central1-a/instances"
        self.members = [  # (instance, current action, health state, ip)
            (f"{base}/a", "NONE", "HEALTHY", "10.8.0.2"),
            (f"{base}/b", "DELETING", "HEALTHY", "10.8.0.3"),
            (f"{base}/c", "CREATING", "UNHEALTHY", "10.8.0.4"),
        ]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._answer)
        return app

    async def _answer(self, request: web.Request) -> web.Response:
        path = request.path
        if path.endswith("/resize"):
            self.resizes.append(request.query["size"])
            self.target_size = int(request.query["size"])
            return web.json_response({"name": "op-1", "status": "DONE"})
        if path.endswith("/listManagedInstances"):
            managed = [{"instance": url, "currentAction": action} for url, action, _, _ in self.members]
            return web.json_response({"managedInstances": managed})
        if path.endswith("/getHealth"):
            body = await request.json()
            assert body["group"].endswith("/instanceGroups/chat-blue"), body
            health = [
                {"instance": url, "healthState": state, "ipAddress": ip} for url, _, state, ip in self.members
            ]
            return web.json_response({"healthStatus": health})
        assert path == "/compute/v1/projects/demo/regions/us-central1/instanceGroupManagers/chat-blue", path
        group = "https://compute.googleapis.com/compute/v1/projects/demo/regions/us-central1/instanceGroups/chat-blue"
        return web.json_response({"targetSize": self.target_size, "instanceGroup": group})


def test_the_gcp_hook_resizes_a_mig_at_zero_once_and_the_reader_maps_its_instances() -> None:
    async def scenario() -> None:
        cloud = ComputeStandIn()
        async with serve(cloud.app()) as url:
            options = {"api_endpoint": url}
            migs = compute_v1.RegionInstanceGroupManagersClient(
                credentials=AnonymousCredentials(), client_options=options
            )
            backends = compute_v1.BackendServicesClient(
                credentials=AnonymousCredentials(), client_options=options
            )
            for _ in range(2):  # the second call finds the group already sized
                await asyncio.to_thread(gcp_resize_mig, migs, "demo", "us-central1", "chat-blue", 1)
            replicas = await asyncio.to_thread(
                gcp_replicas, migs, backends, "demo", "us-central1", "chat-blue", "chat-backend", 8080, "blue"
            )
        assert cloud.resizes == ["1"]
        assert replicas == [
            Replica("http://10.8.0.2:8080", "blue", "ready"),
            Replica("http://10.8.0.3:8080", "blue", "draining"),
            Replica("http://10.8.0.4:8080", "blue", "booting"),
        ]

    run(scenario())


def test_a_replica_draining_before_membership_notices_fails_no_request(router: str) -> None:
    async def scenario() -> None:
        async with engines(2) as [(a, a_url), (b, b_url)], aiohttp.ClientSession() as session:
            admin = RouterAdmin(session, router)
            assert await admin.add(a_url) and await admin.add(b_url)
            async with gate_over(a, lambda: None, router=router) as setup:
                await setup.fleet.set_ready("blue", frozenset({a_url, b_url}))
                drain(a)  # the spot notice came; the next membership pass is still ahead
                answers = [await ask(session, setup.gate, stream=index % 2 == 0) for index in range(20)]
        assert [status for status, _, _ in answers] == [200] * 20
        assert all(body.endswith((b"data: [DONE]\n\n", b'"Hello"}]}')) for _, _, body in answers)
        assert b.served == 20 and a.served == 0, "vllm-router and the gate retried the drain's 503s on b"

    run(scenario())
