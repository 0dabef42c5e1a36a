"""Command line for operators and admins (SPEC §8 CLI).

  starter.py intake --file order.json | --category ... --title ... --description ... --name ... --phone ...
  starter.py show SY2026...          starter.py list [--owner ZJJ] [--stage handling] [--overdue]
  starter.py act SY2026... sign --as ZJJ [--json '{...}']
  starter.py route "text" [--district YZQ] [--category complaint]
  starter.py units import FILE       starter.py supervision ZJJ
  starter.py apikey create --role intake|admin|department:<code> [--label L]; apikey revoke KEY|PREFIX
  starter.py report --from 2026-10-01 --to 2026-11-01 [--unit ZJJ] [--out report.html]
  starter.py calendar import FILE [--by NAME] [--dry-run]; calendar show YEAR; calendar status
  starter.py simulate --months 24 --orders-per-day 50
  starter.py demo
Every error is one line on stderr and exit code 2; nothing is changed on error.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from cli.calendar import CalendarCliError
from cli.merge import MergeCliError
from cli.report import ReportError
from cli.users import UserCliError
from hotline.runtime.settings import SettingsError, load_settings


class CliError(Exception):
    pass


def _db():
    from hotline.store import Database
    db = Database(load_settings().database_url)
    db.check()
    db.migrate()
    from hotline.store.units import ensure_catalogue
    ensure_catalogue(db)
    return db


def _router(db):
    from hotline.store.routing_models import make_router
    return make_router(db)  # the evidence with the routing model (issue 19)


async def _work_orders():
    from hotline.domain.policy import load_policy
    from workflows.client import TemporalWorkOrders
    from workflows.connect import connect
    settings = load_settings()
    client = await connect(settings)
    # an answer's writes stand at once; intake answers from the start (the database's calendar)
    return TemporalWorkOrders.on_store(client, settings.task_queue, load_policy(settings.policy), _db())


def _print_state(st, out=sys.stdout) -> None:
    d = st.deadlines
    print(f"order {st.order_no}  stage={st.stage.value}  owner={st.owner}  "
          f"{st.category.value}/{st.urgency.value}  overdue={st.overdue}", file=out)
    print(f"  title: {st.title}", file=out)
    for name in ("sign_by", "contact_by", "coordinate_by", "remind_at", "reply_by", "escalate_at",
                 "callback_by", "answer_by"):
        v = getattr(d, name)
        if v:
            flag = "  (provisional calendar)" if name in d.provisional else ""
            print(f"  {name:<13} {v.isoformat()}{flag}", file=out)
    for a in st.actions:
        print(f"  #{a.seq:<3} {a.at.isoformat()}  {a.action:<24} by {a.by}", file=out)
    for n in st.notices:
        print(f"  notice {n.kind:<16} to {n.to:<10} {n.reason}", file=out)


# ---------------------------------------------------------------- commands


async def cmd_intake(args) -> None:
    from hotline.domain.models import IntakeRequest
    from hotline.services.intake import IntakeError, intake_order
    if args.file:
        try:
            body = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CliError(f"{args.file}: {exc}") from None
    else:
        body = {"channel": args.channel, "category": args.category, "urgency": args.urgency, "title": args.title,
                "description": args.description, "petitioner": {"name": args.name, "phone": args.phone},
                "location": {"district": args.district, "address": args.address}, "owner": args.owner}
    try:
        req = IntakeRequest.model_validate(body)
    except ValidationError as exc:
        raise CliError(_pydantic(exc)) from None
    from hotline.store.order_numbers import IdempotencyConflict, scoped_key
    db = _db()
    try:
        router = _router(db)
        st = await intake_order(db, await _work_orders(), router, req, scoped_key("cli", args.idempotency_key))
    except (IntakeError, IdempotencyConflict) as exc:
        raise CliError(str(exc)) from None
    _print_state(st)
    from hotline.services.duplicates import for_request  # open orders that may be the same matter (issue 18)
    for c in for_request(db, router, req, {st.order_no}):
        ev = c.evidence
        print(f"  possible duplicate {c.order_no}  score={c.score:.2f}  stage={c.stage.value}  owner={c.owner}  "
              f"{c.title}  places={','.join(ev.places) or '-'}  matters={','.join(ev.matters) or '-'}")


def cmd_show(args) -> None:
    from hotline.store.readmodel import load_order
    st = load_order(_db(), args.order_no)  # the read model: a running order is never queried
    if st is None:
        raise CliError(f"order {args.order_no} not found")
    _print_state(st)


def cmd_list(args) -> None:
    from sqlalchemy import select

    from hotline.store.tables import OrderRow
    db = _db()
    q = select(OrderRow).order_by(OrderRow.created_at.desc()).limit(args.limit)
    if args.owner:
        q = q.where(OrderRow.owner == args.owner)
    if args.stage:
        q = q.where(OrderRow.stage == args.stage)
    if args.overdue:
        q = q.where(OrderRow.overdue.is_(True))
    with db.session() as s:
        rows = s.scalars(q).all()
    print(f"{'order':<18} {'stage':<14} {'owner':<6} {'overdue':<7} title")
    for r in rows:
        print(f"{r.order_no:<18} {r.stage:<14} {r.owner:<6} {str(r.overdue):<7} {r.title}")


async def cmd_act(args) -> None:
    from hotline.domain.models import ACTION_MODELS
    from hotline.services.port import ActionRefused, OrderNotFound
    model = ACTION_MODELS.get(args.action)
    if model is None:
        raise CliError(f"unknown action {args.action!r}; known: {', '.join(sorted(ACTION_MODELS))}")
    try:
        body = json.loads(args.json) if args.json else {}
        payload = model.model_validate({**body, "by": args.actor})
    except json.JSONDecodeError as exc:
        raise CliError(f"--json: {exc}") from None
    except ValidationError as exc:
        raise CliError(_pydantic(exc)) from None
    from hotline.domain.bounds import action_date_problem
    problem = action_date_problem(payload)
    if problem:
        raise CliError(problem)
    try:
        st = await (await _work_orders()).act(args.order_no, args.action, payload)
    except ActionRefused as exc:
        raise CliError(f"refused: {exc.message}") from None
    except OrderNotFound:
        raise CliError(f"order {args.order_no} not found") from None
    _print_state(st)


def cmd_route(args) -> None:
    db = _db()
    res = _router(db).route(args.text, args.category, args.district)
    print(f"decision: {res.decision} — {res.explanation}")
    for i, c in enumerate(res.candidates, 1):
        print(f"{i}. {c.unit} {c.name}  score={c.score:.2f}  {c.reason}")
        for e in c.matched_entries:
            print(f"     · {e.matter}  words={','.join(e.matched_words)}" + (f"  basis={e.basis}" if e.basis else ""))


def cmd_units_import(args) -> None:
    from hotline.domain.catalogue import CatalogueError, load_catalogue
    from hotline.store.units import import_catalogue
    try:
        cat = load_catalogue(Path(args.file))
        n = import_catalogue(_db(), cat)  # refused too when a webhook has no signing secret
    except CatalogueError as exc:
        raise CliError(f"{args.file} refused, nothing changed:\n{exc}") from None
    print(f"imported {n} units from {args.file}")


def cmd_supervision(args) -> None:
    from hotline.store.ledger import ledger_view
    view = ledger_view(_db(), args.unit, args.year)
    print(f"unit {view['unit']}  year {view['year']}: {len(view['strikes'])} strikes, "
          f"{len(view['criticisms'])} criticisms, {len(view['referrals'])} referrals")
    for kind in ("strikes", "criticisms", "referrals"):
        for e in view[kind]:
            print(f"  {e['kind']:<18} {e['at']}  {e['order_no'] or ''}  {e['key']}")


def cmd_apikey(args) -> None:
    from hotline.services.intake import unit_codes
    from hotline.store.apikeys import ApiKeyError, create_key, revoke_key
    db = _db()
    if args.apikey_cmd == "create":
        try:
            key = create_key(db, args.role, args.label, known_units=unit_codes(db))
        except ApiKeyError as exc:
            raise CliError(str(exc)) from None
        print(f"new {args.role} key (shown once, stored hashed):")
        print(key)
    else:
        n = revoke_key(db, args.key)
        if n == 0:
            raise CliError("no active key matches")
        print(f"revoked {n} key(s)")


async def cmd_demo(args) -> None:
    from cli.demo import play
    db = _db()
    await play(db, await _work_orders(), _router(db), pause=args.pause)


def _pydantic(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starter.py", description="12345 hotline work orders")
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("intake", help="create a work order")
    i.add_argument("--file", help="JSON body as for POST /api/v1/orders")
    i.add_argument("--channel", default="phone")
    i.add_argument("--category")
    i.add_argument("--urgency", default="normal")
    i.add_argument("--title")
    i.add_argument("--description")
    i.add_argument("--name")
    i.add_argument("--phone")
    i.add_argument("--district")
    i.add_argument("--address")
    i.add_argument("--owner", help="operator's choice of unit; else the routing's top unit")
    i.add_argument("--idempotency-key")
    s = sub.add_parser("show", help="show an order's state")
    s.add_argument("order_no")
    ls = sub.add_parser("list", help="list orders")
    ls.add_argument("--owner")
    ls.add_argument("--stage")
    ls.add_argument("--overdue", action="store_true")
    ls.add_argument("--limit", type=int, default=50)
    a = sub.add_parser("act", help="act on an order as a unit or admin")
    a.add_argument("order_no")
    a.add_argument("action")
    a.add_argument("--as", dest="actor", required=True, help="unit code, or admin:<name> for hotline actions")
    a.add_argument("--json", help="the action's body as JSON")
    r = sub.add_parser("route", help="rank units for a request text, with evidence")
    r.add_argument("text")
    r.add_argument("--district")
    r.add_argument("--category")
    u = sub.add_parser("units", help="unit catalogue")
    usub = u.add_subparsers(dest="units_cmd", required=True)
    ui = usub.add_parser("import", help="replace the catalogue from a YAML file (validated whole first)")
    ui.add_argument("file")
    sv = sub.add_parser("supervision", help="a unit's supervision ledger")
    sv.add_argument("unit")
    sv.add_argument("--year", type=int)
    k = sub.add_parser("apikey", help="API keys")
    ksub = k.add_subparsers(dest="apikey_cmd", required=True)
    kc = ksub.add_parser("create")
    kc.add_argument("--role", required=True)
    kc.add_argument("--label")
    kr = ksub.add_parser("revoke")
    kr.add_argument("key", help="the key or its printed prefix")
    from cli.report import add_commands as add_report_commands
    add_report_commands(sub)  # report, simulate (SPEC §7)
    from cli.calendar import add_commands as add_calendar_commands
    add_calendar_commands(sub)  # calendar import / show / status (issue 20)
    from cli.users import add_commands as add_user_commands
    add_user_commands(sub)  # staff accounts of the web console (issue 15)
    from cli.routing import add_commands as add_routing_commands
    add_routing_commands(sub)  # routing retrain / status (issue 19)
    from cli.merge import add_commands as add_merge_commands
    add_merge_commands(sub)  # merge / unmerge (并单, issue 18)
    d = sub.add_parser("demo", help="play the drainage-ditch case of SPEC §8 on the running stack")
    d.add_argument("--pause", type=float, default=1.0, help="seconds between steps")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"intake": cmd_intake, "show": cmd_show, "list": cmd_list, "act": cmd_act, "route": cmd_route,
                "supervision": cmd_supervision, "apikey": cmd_apikey, "demo": cmd_demo,
                "units": cmd_units_import}
    fn = handlers.get(args.cmd) or args.handler
    try:
        result = fn(args)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
    except (CliError, SettingsError, ReportError, CalendarCliError, UserCliError, MergeCliError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    code = main()
    # The Temporal client's native runtime threads can crash the interpreter's teardown now and
    # then (SIGSEGV after the work is done), which would hide the real exit status from scripts.
    # Everything is written by now: flush and leave without the teardown.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code or 0))
