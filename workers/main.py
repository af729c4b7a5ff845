"""arq WorkerSettings: the jobs, the outbox sweeper, startup and shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arq import cron
from arq.connections import RedisSettings

from domain.allocation import service as allocation
from domain.buying import settlement, supplier_transfers
from domain.db import SessionMaker, make_engine, make_session_maker
from domain.jobs.queue import ArqJobQueue
from domain.membership import share_cards
from domain.notifications import service as notifications
from domain.payments import card_holds, webhooks
from domain.payments import wiring as payments_wiring
from domain.settings import Settings
from domain.unit_of_work import relay
from workers.allocation import compute_allocation_run, give_up_allocation_run
from workers.buying import group_buy_clock, settle_group_buy
from workers.governance import ballot_clock
from workers.identity import forget_quiet_sign_in_failures
from workers.membership import membership_daily
from workers.network import network_clock
from workers.outbox import outbox_job
from workers.payments import (
    card_cancel,
    card_capture,
    card_clock,
    card_fee,
    card_hold,
    card_refund,
    card_release,
    payments_drift,
    replay_missed_events,
    share_card_charge,
    share_card_poll,
    stripe_event,
    supplier_transfer,
    supplier_transfer_reversal,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlmodel.ext.asyncio.session import AsyncSession


async def _deliver_notification(ctx: dict[str, Any], _: AsyncSession, payload: Mapping[str, Any]) -> None:
    await notifications.deliver(ctx["notification_sender"], payload)


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Re-enqueue outbox jobs that were never handed over or went missing."""
    return await relay(ctx["session_maker"], ctx["job_queue"])


JOBS = [
    outbox_job(notifications.DELIVER_JOB, _deliver_notification),
    outbox_job(allocation.COMPUTE_JOB, compute_allocation_run, on_give_up=give_up_allocation_run),
    outbox_job(settlement.SETTLE_JOB, settle_group_buy),
    outbox_job(card_holds.HOLD_JOB, card_hold),
    outbox_job(card_holds.CANCEL_JOB, card_cancel),
    outbox_job(card_holds.CAPTURE_JOB, card_capture),
    outbox_job(card_holds.RELEASE_JOB, card_release),
    outbox_job(card_holds.REFUND_JOB, card_refund),
    outbox_job(card_holds.FEE_JOB, card_fee),
    outbox_job(webhooks.EVENT_JOB, stripe_event),
    outbox_job(supplier_transfers.TRANSFER_JOB, supplier_transfer),
    outbox_job(supplier_transfers.REVERSAL_JOB, supplier_transfer_reversal),
    outbox_job(share_cards.CHARGE_JOB, share_card_charge),
]


def worker_settings(
    settings: Settings,
    session_maker: SessionMaker | None = None,
    notification_sender: notifications.NotificationSender | None = None,
) -> dict[str, Any]:
    """Keyword arguments for arq's Worker; tests pass their own session maker and sender."""

    async def startup(ctx: dict[str, Any]) -> None:
        if session_maker is None:
            engine = make_engine(settings.database_url or "")
            ctx["engine"] = engine
            ctx["session_maker"] = make_session_maker(engine)
        else:
            ctx["session_maker"] = session_maker
        ctx["job_queue"] = ArqJobQueue(ctx["redis"])
        ctx["settings"] = settings
        ctx["notification_sender"] = notification_sender or notifications.LogSender()
        ctx["payment_gateway"] = payments_wiring.gateway_for(settings)

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "payment_gateway" in ctx:
            await payments_wiring.close(ctx["payment_gateway"])
        if "engine" in ctx:
            await ctx["engine"].dispose()

    return {
        "functions": JOBS,
        "cron_jobs": [
            cron(sweep_outbox, second=0, run_at_startup=True),
            cron(group_buy_clock, second=30, run_at_startup=True),
            cron(ballot_clock, second=40, run_at_startup=True),
            cron(network_clock, minute=set(range(5, 60, 15)), second=50),
            cron(card_clock, minute=set(range(0, 60, 10)), second=45),
            cron(share_card_poll, minute=set(range(5, 60, 10)), second=15),
            cron(payments_drift, hour={4}, minute=41),
            cron(replay_missed_events, minute={23}, second=50),
            cron(membership_daily, hour={0, 12}, minute=5, run_at_startup=True),
            cron(forget_quiet_sign_in_failures, hour={3}, minute=17),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0"),
        # Results are kept briefly so the sweeper may re-enqueue a job id that gave up.
        "keep_result": 60,
        "max_tries": 8,
        "job_timeout": settings.job_timeout_seconds,
        "health_check_interval": 30,
    }


_SETTINGS = Settings.from_env()
_OPTIONS = worker_settings(_SETTINGS)


class WorkerSettings:
    """For `arq workers.main.WorkerSettings` (and `arq --check` as a liveness probe)."""

    functions = _OPTIONS["functions"]
    cron_jobs = _OPTIONS["cron_jobs"]
    on_startup = _OPTIONS["on_startup"]
    on_shutdown = _OPTIONS["on_shutdown"]
    redis_settings = _OPTIONS["redis_settings"]
    keep_result = _OPTIONS["keep_result"]
    max_tries = _OPTIONS["max_tries"]
    job_timeout = _OPTIONS["job_timeout"]
    health_check_interval = _OPTIONS["health_check_interval"]
