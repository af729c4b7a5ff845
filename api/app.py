"""The Litestar app factory."""

from __future__ import annotations

import contextlib
import gc
import logging
from typing import TYPE_CHECKING, Any

from arq import create_pool
from arq.connections import RedisSettings
from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig

from api.allow import name_every_allowed_method, remember_allowed_methods
from api.auth import ACCESS, PUBLIC_PATHS, BearerTokenMiddleware, TokenCache, check_access
from api.deps import provide_principal, provide_session
from api.docs import assets_router, render_plugins
from api.fields import MAX_BODY_BYTES, ClosedStructSchemaPlugin, StrictRequest
from api.metrics import HttpMetrics, metrics
from api.openapi import COMPONENTS, add_contract
from api.problems import EXCEPTION_HANDLERS
from api.query_params import refuse_unknown_query_parameters, remember_query_names
from api.request_log import RequestLogMiddleware, echo_request_id
from api.revocations import listening_for_revocations
from api.routes import (
    allocation,
    ballots,
    cards,
    catalog,
    directory,
    events,
    group_buys,
    identity,
    imports,
    ledger,
    listings,
    meetings,
    members,
    offers,
    orders,
    patronage,
    payouts,
    petitions,
    pool_margins,
    preferred,
    programmes,
    purchase_orders,
    redemption,
    statements,
    stripe_webhook,
    supplier_payments,
    system,
)
from api.tracing import tracer_provider, tracing_plugins
from api.unit_of_work import RequestWorkMiddleware, UnitOfWorkMiddleware
from domain.db import SessionMaker, autocommit_pool, make_engine, make_session_maker
from domain.identity.service import LoginPolicy, ensure_staff
from domain.jobs.queue import ArqJobQueue
from domain.logs import configure
from domain.payments import wiring as payments_wiring
from domain.settings import Settings
from domain.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from arq.connections import ArqRedis

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, session_maker: SessionMaker | None = None, redis: ArqRedis | None = None
) -> Litestar:
    """Build the app; tests pass their own session maker and queue connection."""
    tracing = tracer_provider()

    @contextlib.asynccontextmanager
    async def resources(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if tracing is not None:
                stack.callback(tracing.shutdown)  # exports the spans still batched
            if session_maker is None:
                if settings.database_url is None:
                    msg = "DATABASE_URL is not set (use `coop serve`, which starts the embedded servers)"
                    raise RuntimeError(msg)
                engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
                stack.push_async_callback(engine.dispose)
                app.state.session_maker = make_session_maker(engine)
                app.state.autocommit_pool = await stack.enter_async_context(
                    # Half the engine's pool: a call holds its connection for one round trip only.
                    autocommit_pool(settings.database_url, size=max(1, settings.db_pool_size // 2))
                )
                await stack.enter_async_context(listening_for_revocations(settings.database_url, app.state.token_cache))
            else:
                app.state.session_maker = session_maker
            if redis is None:
                pool = await create_pool(RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0"))
                stack.push_async_callback(pool.aclose)
                app.state.redis = pool
            else:
                app.state.redis = redis
            app.state.job_queue = ArqJobQueue(app.state.redis)
            stack.push_async_callback(payments_wiring.close, app.state.payment_gateway)
            await _bootstrap_staff(settings, app.state.session_maker)
            yield

    http_metrics = HttpMetrics()
    app = Litestar(
        route_handlers=[
            system.health,
            metrics,
            catalog.SupplierController,
            catalog.ProductController,
            group_buys.GroupBuyController,
            orders.OrderController,
            purchase_orders.PurchaseOrderController,
            ballots.BallotController,
            meetings.MeetingController,
            petitions.PetitionController,
            patronage.list_patronage,
            patronage.import_patronage,
            identity.issue_token,
            identity.me,
            identity.add_staff_user,
            identity.sign_out,
            identity.change_password,
            identity.list_users,
            identity.change_user,
            identity.unlock_user,
            ledger.trial_balance,
            members.MemberController,
            imports.import_members,
            imports.import_lots,
            preferred.issue_preferred,
            preferred.declare_dividend,
            allocation.start_run,
            allocation.show_run,
            allocation.run_lines,
            allocation.approve_run,
            allocation.notice,
            allocation.reconcile,
            allocation.form_1099_patr,
            redemption.RedemptionRunController,
            redemption.special_redemption,
            payouts.PayoutController,
            programmes.create_contract,
            pool_margins.programme_margins,
            pool_margins.record_expense,
            pool_margins.list_expenses,
            statements.value_statement,
            programmes.ContractController,
            programmes.PurchaseLineController,
            programmes.ClaimController,
            listings.member_notices,
            listings.member_payouts,
            listings.member_redemptions,
            listings.list_allocation_runs,
            listings.list_redemption_runs,
            cards.start_card_setup,
            cards.list_cards,
            cards.card_reconciliation,
            cards.pay_share_by_card,
            cards.share_card_payment,
            supplier_payments.set_payment_settings,
            supplier_payments.payment_settings,
            directory.put_profile,
            directory.get_profile,
            directory.search_directory,
            directory.public_directory,
            offers.publish_offer,
            offers.list_offers,
            offers.claim_offer,
            offers.redeem_claim,
            events.create_event,
            events.approve_event,
            events.decline_event,
            events.list_events,
            events.events_calendar,
            events.register,
            events.register_guest,
            events.list_registrations,
            events.cancel_registration,
            events.record_attendance,
            assets_router(),
            # Routed only with a secret to check signatures against: unsigned events are never taken.
            *([stripe_webhook.stripe_webhook] if settings.stripe_webhook_secret else []),
        ],
        dependencies={"db": Provide(provide_session), "caller": Provide(provide_principal, sync_to_thread=False)},
        middleware=[
            RequestLogMiddleware(),
            RequestWorkMiddleware(),
            DefineMiddleware(BearerTokenMiddleware, exclude=list(PUBLIC_PATHS)),
            UnitOfWorkMiddleware(),
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_class=StrictRequest,
        plugins=[ClosedStructSchemaPlugin(), *tracing_plugins(tracing)],
        request_max_body_size=MAX_BODY_BYTES,
        lifespan=[resources],
        before_send=[echo_request_id, name_every_allowed_method],
        before_request=before_handler,
        on_startup=[remember_query_names, remember_allowed_methods],
        logging_config=None,  # domain.logs configures JSON logging for the process
        state=_initial_state(settings, http_metrics),
        openapi_config=OpenAPIConfig(
            title="Purchasing co-op API",
            version="1.0.0",
            path="/schema",
            render_plugins=render_plugins(),
            components=COMPONENTS,
        ),
    )
    add_contract(app)
    check_every_guard_runs(app)
    return app


async def before_handler(request: Request[Any, Any, Any]) -> None:
    """Every route's before_request hook: who may call it, then which query parameters it takes."""
    await check_access(request)
    await refuse_unknown_query_parameters(request)


def check_every_guard_runs(app: Litestar) -> None:
    """Refuse to build an app with a route whose guard would not run as the others do.

    A route's guard, `access=`, runs from the app's before_request hook (`check_access`): a
    route with a before_request hook of its own (which replaces the app's) would skip it, and a
    route with Litestar's `guards=` is copied per call and missed by the authorization tests.
    Routes without `access=` take any signed-in caller (or none, on the public paths).
    """
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.resolve_guards() or (
                ACCESS in handler.opt and handler.resolve_before_request() is not before_handler
            ):
                msg = f"{sorted(handler.http_methods)} {route.path}: its guard must be access=, run by before_handler"
                raise RuntimeError(msg)


def app_from_env() -> Litestar:
    """The app of one `coop serve` worker process: settings and logging from the environment."""
    settings = Settings.from_env()
    configure(settings.log_level)
    return served_app(settings)


def served_app(settings: Settings) -> Litestar:
    """The app as a server process runs it (tests build theirs with `create_app`)."""
    app = create_app(settings)
    app.on_startup.append(freeze_startup_objects)
    return app


def freeze_startup_objects() -> None:
    """Keep what startup built out of the collector's full passes, once the app is up.

    About 270,000 objects exist after startup (modules, the app, the pools), and a full
    (oldest-generation) pass walks them all: under load each API process made one such pass
    within seconds of the first requests, stalling its event loop 0.7-0.9 s on a busy machine
    (docs/performance.md, twenty-third part). Frozen, they are never walked again; objects
    made later are collected as usual. Only `coop serve` processes do it, not test apps.
    """
    gc.collect()
    gc.freeze()


def _initial_state(settings: Settings, http_metrics: HttpMetrics) -> State:
    return State(
        {
            "settings": settings,
            "http_metrics": http_metrics,
            # Statements that commit by themselves run on it (the order writes); None: on
            # the request's session, as in the tests, whose apps are given their transaction's sessions.
            "autocommit_pool": None,
            "token_cache": TokenCache(settings.token_cache_seconds),
            "payment_gateway": payments_wiring.gateway_for(settings),
            "login_policy": LoginPolicy(
                token_ttl_seconds=settings.token_ttl_seconds,
                max_failures=settings.login_max_failures,
                failure_window_seconds=settings.login_failure_window_seconds,
            ),
        }
    )


async def _bootstrap_staff(settings: Settings, session_maker: SessionMaker) -> None:
    """COOP_ADMIN_EMAIL/COOP_ADMIN_PASSWORD: make that staff user if it does not exist."""
    if not (settings.admin_email and settings.admin_password):
        return
    async with UnitOfWork(session_maker) as uow:
        created = await ensure_staff(uow.session, settings.admin_email, settings.admin_password)
        await uow.commit()
    if created:
        log.info("created staff user", extra={"email": settings.admin_email})
