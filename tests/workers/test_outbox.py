"""The outbox against the real Valkey and arq: relayed after commit, run once, swept when lost."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from arq import Retry
from sqlmodel import col, select

from domain.jobs import service as outbox
from domain.jobs.queue import ArqJobQueue
from domain.jobs.tables import OutboxJob
from domain.notifications import service as notifications
from domain.unit_of_work import relay
from tests.support.worker import make_worker
from workers.main import sweep_outbox
from workers.outbox import outbox_job


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def send(self, event: str, audience: str, data: Any) -> None:
        self.sent.append((event, audience, dict(data)))


async def _record(session_maker, key: str) -> list[str]:
    async with session_maker() as session:
        await notifications.record(
            session, event="group_buy.opened", audience="member:7", data={"group_buy_id": "3"}, business_key=key
        )
        await session.commit()
        return outbox.take_pending_keys(session)


async def _job(session, business_key: str) -> OutboxJob:
    job: OutboxJob = (await session.exec(select(OutboxJob).where(col(OutboxJob.business_key) == business_key))).one()
    return job


async def test_a_recorded_job_is_relayed_after_commit_and_runs_once(settings, session_maker, session, queue):
    keys = await _record(session_maker, "gb:3:opened")
    assert keys == ["notify:gb:3:opened"]
    assert await relay(session_maker, ArqJobQueue(queue), keys) == 1
    sender = RecordingSender()
    worker = await make_worker(settings, session_maker, sender)
    await worker.main()
    await worker.close()
    assert sender.sent == [("group_buy.opened", "member:7", {"group_buy_id": "3"})]
    job = await _job(session, "notify:gb:3:opened")
    assert job.done_at is not None
    assert job.attempts == 1
    # arq delivers at least once: a second delivery of the same key does nothing.
    run = worker.functions["deliver_notification"].coroutine
    ctx = {"session_maker": session_maker, "job_queue": ArqJobQueue(queue), "notification_sender": sender}
    assert await run(ctx, "notify:gb:3:opened") == "already done"
    assert len(sender.sent) == 1


async def test_recording_the_same_business_key_twice_keeps_one_job(session_maker, session):
    await _record(session_maker, "gb:4:opened")
    await _record(session_maker, "gb:4:opened")
    count = (
        await session.execute(sa.select(sa.func.count()).where(col(OutboxJob.business_key) == "notify:gb:4:opened"))
    ).scalar_one()
    assert count == 1


async def test_notices_recorded_as_columns_are_the_notices_recorded_one_by_one(session_maker, session):
    # What the close and settlement tell every order: record_each builds in SQL the payloads record builds in Python.
    data = [("a", 5, "member:5", "0", 1_099), ("b", 6, "member:6", "7", 0), ("c", 7, "member:7", "8", 2**40)]
    async with session_maker() as s:
        for k, _, audience, oid, c in data:
            await notifications.record(
                s,
                event="order.allocated",
                audience=audience,
                data={"order_id": oid, "total_cents": c},
                business_key=f"each:{k}:one",
            )
        await notifications.record_each(
            s,
            event="order.allocated",
            business_keys=[f"each:{k}:cols" for k, *_ in data],
            audiences=[audience for _, _, audience, *_ in data],
            data={"order_id": [oid for *_, oid, _ in data], "total_cents": [c for *_, c in data]},
        )
        # The same key again is recorded once, as with record.
        await notifications.record_each(
            s, event="order.allocated", business_keys=["each:a:cols"], audiences=["member:1"], data={"x": [1]}
        )
        await s.commit()
        keys = outbox.take_pending_keys(s)
    assert keys[3:6] == [f"notify:each:{k}:cols" for k, *_ in data]
    jobs = (
        await session.exec(
            select(OutboxJob).where(col(OutboxJob.business_key).like("notify:each:%")).order_by(col(OutboxJob.id))
        )
    ).all()
    one = {
        j.business_key.removesuffix(":one"): (j.job_name, j.payload) for j in jobs if j.business_key.endswith(":one")
    }
    cols = {
        j.business_key.removesuffix(":cols"): (j.job_name, j.payload) for j in jobs if j.business_key.endswith(":cols")
    }
    assert cols == one
    assert [j.business_key for j in jobs if j.business_key.endswith(":cols")] == keys[3:6]  # in the given order
    with pytest.raises(ValueError, match="one value per business key"):
        await notifications.record_each(
            session, event="e", business_keys=["k1", "k2"], audiences=["member:1"], data={"x": [1, 2]}
        )


async def test_the_sweeper_finds_jobs_that_were_never_handed_over(settings, session_maker, session, queue):
    await _record(session_maker, "gb:5:opened")  # committed, but the process died before the relay
    ctx = {"session_maker": session_maker, "job_queue": ArqJobQueue(queue)}
    assert await sweep_outbox(ctx) >= 1
    assert (await _job(session, "notify:gb:5:opened")).enqueued_at is not None
    sender = RecordingSender()
    worker = await make_worker(settings, session_maker, sender)
    await worker.main()
    await worker.close()
    assert [s[0] for s in sender.sent] == ["group_buy.opened"]
    assert await sweep_outbox(ctx) == 0  # done jobs are never swept again


async def test_a_job_is_queued_once_however_often_it_is_relayed(session_maker, queue):
    keys = await _record(session_maker, "gb:6:opened")
    job_queue = ArqJobQueue(queue)
    await relay(session_maker, job_queue, keys)
    await relay(session_maker, job_queue, keys)
    assert len(await queue.queued_jobs()) == 1


async def test_a_failing_job_keeps_its_work_undone_and_retries(session_maker, session, queue):
    async with session_maker() as s:
        await outbox.add(s, "explode", "explode:1", {"n": 1})
        await s.commit()

    async def explode(_ctx: dict[str, Any], s: Any, _payload: Any) -> None:
        await outbox.add(s, "never", "never:1", {})  # written by the job, must roll back with it
        msg = "supplier portal is down"
        raise RuntimeError(msg)

    run = outbox_job("explode", explode)
    with pytest.raises(Retry):
        await run({"session_maker": session_maker, "job_queue": ArqJobQueue(queue), "job_try": 1}, "explode:1")
    job = await _job(session, "explode:1")
    assert job.done_at is None
    assert job.last_error == "RuntimeError: supplier portal is down"
    gone = await session.execute(sa.select(OutboxJob).where(col(OutboxJob.business_key) == "never:1"))
    assert gone.first() is None


async def test_a_job_whose_input_is_refused_fails_at_once_and_is_never_swept_again(session_maker, session, queue):
    from domain.errors import FieldError, InvalidInputError

    async with session_maker() as s:
        await outbox.add(s, "refuse", "refuse:1", {"n": 1})
        await s.commit()

    async def refuse(_ctx: dict[str, Any], _s: Any, _payload: Any) -> None:
        raise InvalidInputError("invalid plan", [FieldError("policy.base_capital.k", "must be a rate")])

    run = outbox_job("refuse", refuse)
    ctx = {"session_maker": session_maker, "job_queue": ArqJobQueue(queue), "job_try": 1}
    assert await run(ctx, "refuse:1") == "failed"  # no Retry: trying again cannot help
    job = await _job(session, "refuse:1")
    assert job.failed_at is not None
    assert job.done_at is None
    assert "policy.base_capital.k" in (job.last_error or "")
    assert await sweep_outbox(ctx) == 0
    assert await run(ctx, "refuse:1") == "already done"


async def test_a_transient_failure_is_retried_only_up_to_the_cap_then_given_up(session_maker, session, queue):
    async with session_maker() as s:
        await outbox.add(s, "flaky", "flaky:1", {"n": 1})
        await s.commit()
    given_up: list[str] = []

    async def flaky(_ctx: dict[str, Any], _s: Any, _payload: Any) -> None:
        msg = "supplier portal is down"
        raise RuntimeError(msg)

    async def on_give_up(_ctx: dict[str, Any], s: Any, payload: Any, reason: str) -> None:
        given_up.append(reason)
        await outbox.add(s, "gave_up", f"gave_up:{payload['n']}", {})  # committed with the failed mark

    run = outbox_job("flaky", flaky, on_give_up=on_give_up)
    ctx = {"session_maker": session_maker, "job_queue": ArqJobQueue(queue), "job_try": 1}
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        with pytest.raises(Retry):
            await run(ctx, "flaky:1")
    assert given_up == []
    assert await run(ctx, "flaky:1") == "failed"
    assert given_up == ["RuntimeError: supplier portal is down"]
    job = await _job(session, "flaky:1")
    assert (job.attempts, job.failed_at is not None, job.done_at) == (outbox.MAX_ATTEMPTS, True, None)
    assert (await _job(session, "gave_up:1")).done_at is None
    assert await run(ctx, "flaky:1") == "already done"


async def test_an_allocation_run_whose_job_gives_up_is_failed_not_left_computing(session_maker, session, queue):
    from datetime import date

    from domain.allocation import service as allocation
    from domain.allocation.tables import AllocationRun
    from tests.support.users import make_user
    from workers.main import JOBS

    user = await make_user(session)
    async with session_maker() as s:
        run_row = AllocationRun(
            fiscal_year=2025, status="computing", payment_date=date(2026, 3, 15), request={}, created_by=user.id
        )
        s.add(run_row)
        await s.flush()
        run_id = run_row.id
        key = f"allocation_run:{run_id}:compute"
        await outbox.add(s, allocation.COMPUTE_JOB, key, {"run_id": run_id})
        await s.commit()
    await session.execute(
        sa.update(OutboxJob).where(col(OutboxJob.business_key) == key).values(attempts=outbox.MAX_ATTEMPTS - 1)
    )
    await session.commit()
    compute = next(f for f in JOBS if f.__name__ == allocation.COMPUTE_JOB)
    # Without settings in its context the job fails like any unexpected fault would.
    assert await compute({"session_maker": session_maker, "job_queue": ArqJobQueue(queue)}, key) == "failed"
    stored = await session.get(AllocationRun, run_id)
    await session.refresh(stored)
    assert stored.status == "failed"
    assert "gave up" in (stored.failure_reason or "")


def test_a_worker_is_started_again_after_1_2_4_seconds_and_never_waits_more_than_30():
    from workers.process import MAX_RESTART_DELAY_SECONDS, restart_delay

    assert [restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert restart_delay(100) == MAX_RESTART_DELAY_SECONDS


async def test_every_line_a_job_logs_carries_its_job_id(session_maker, queue):
    import io
    import json
    import logging

    from domain import logs

    async with session_maker() as s:
        await outbox.add(s, "chatty", "chatty:1", {})
        await s.commit()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    chatty_log = logging.getLogger("tests.chatty")
    chatty_log.addHandler(handler)
    chatty_log.setLevel(logging.INFO)

    async def chatty(_ctx: dict[str, Any], _s: Any, _payload: Any) -> None:
        chatty_log.info("working on it")

    try:
        run = outbox_job("chatty", chatty)
        ctx = {"session_maker": session_maker, "job_queue": ArqJobQueue(queue), "job_id": "arq-job-7"}
        assert await run(ctx, "chatty:1") == "done"
        chatty_log.info("after the job")
    finally:
        chatty_log.removeHandler(handler)
    during, after = (json.loads(line) for line in out.getvalue().splitlines())
    assert during["job_id"] == "arq-job-7"
    assert "job_id" not in after
