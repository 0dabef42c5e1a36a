"""What local activities wrote, held until the history records it.

A local activity runs inside its workflow task: it writes the audit log, the read model and the
outbox before the task's completion reaches the server. If the task never commits (the worker
is killed, the server restarts, the task times out), the order goes on from its last committed
point — usually the same way, sometimes another (a deadline fired meanwhile, or an action was
lost and must be sent again). So each such write carries a token naming its execution, and the
local activity returns that token, which the history records in the task's marker when — and
only when — the task commits. A write counts once its token is seen there:

- audit rows (`actions`) are confirmed, or deleted with their KPI rows when voided;
- outbox rows stay "held" (never delivered) until confirmed, then go out; "void" otherwise —
  nobody is told of a fact that did not happen;
- if the read model's last write was voided, the order is asked to write its state again
  (`resync`).

A write is voided once the history has gone past the start of its workflow task (`wft`, that
task's started event id) without recording its token. (Temporal writes a retried task's events
only when it completes, under the same event ids: the task id alone cannot tell two attempts
apart, the token can.) This module is the database side; workflows/commits.py reads histories.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, case, select

from hotline.store import Database
from hotline.store.outbox import now_utc
from hotline.store.tables import ActionRow, CallbackRow, DispatchRow, OrderRow, OutboxRow, ReturnRequestRow


def pending(db: Database, limit: int = 200, quiet: float = 0.0) -> dict[str, set[tuple[str, int]]]:
    """Orders with writes still waiting: order_no → {(token, workflow task)}. With `quiet`, only
    orders not written for that many seconds: an order in the middle of a burst of actions is
    settled once, after it, with one read of its history."""
    out: dict[str, set[tuple[str, int]]] = {}
    cutoff = now_utc() - timedelta(seconds=quiet)
    with db.session() as s:
        # an unconfirmed write always has its token and task (a local activity's); the checks
        # only say so to the type checker
        for no, t, w in s.execute(select(ActionRow.order_no, ActionRow.token, ActionRow.wft)
                                  .join(OrderRow, OrderRow.order_no == ActionRow.order_no)
                                  .where(ActionRow.confirmed.is_(False), OrderRow.updated_at <= cutoff).limit(limit)):
            if t is not None and w is not None:
                out.setdefault(no, set()).add((t, w))
        for held_no, t, w in s.execute(select(OutboxRow.order_no, OutboxRow.token, OutboxRow.wft)
                                       .where(OutboxRow.status == "held", OutboxRow.created_at <= cutoff).limit(limit)):
            if held_no is not None and t is not None and w is not None:
                out.setdefault(held_no, set()).add((t, w))
    return out


def decide(writes: set[tuple[str, int]], recorded: set[str], history_length: int) -> tuple[set[str], set[str]]:
    """(confirmed, voided) tokens. A token the history recorded (a local activity's result)
    stands. One it did not, once the history has gone past its task's start (the task
    completed with another execution's results, or failed), never will. Otherwise: wait."""
    confirmed, voided = set(), set()
    for token, wft in writes:
        if token in recorded:
            confirmed.add(token)
        elif history_length > wft:
            voided.add(token)
    return confirmed, voided


# Prepared once (this runs once per action, from the gateway): confirmed steps stand; their held
# notices go out, an inbox message delivered at once, the others to the dispatcher.
_A, _O = ActionRow.__table__, OutboxRow.__table__
_CONFIRM_STEPS = _A.update().where(_A.c.order_no == bindparam("o"), _A.c.token.in_(bindparam("t", expanding=True))) \
    .values(confirmed=True)
_INBOX = _O.c.channel == "inbox"
_RELEASE_NOTICES = _O.update().where(
    _O.c.order_no == bindparam("o"), _O.c.status == "held", _O.c.token.in_(bindparam("t", expanding=True)),
).values(status=case((_INBOX, "delivered"), else_="pending"),
         delivered_at=case((_INBOX, bindparam("ts")), else_=_O.c.delivered_at),
         next_attempt_at=case((_INBOX, _O.c.next_attempt_at), else_=bindparam("ts")))


def settle(db: Database, order_no: str, confirmed: set[str], voided: set[str]) -> bool:
    """Apply the decisions. True when the read model came from a voided write (resync)."""
    ts = now_utc()
    with db.writer() as s:
        if confirmed:
            s.execute(_CONFIRM_STEPS, {"o": order_no, "t": list(confirmed)})
            s.execute(_RELEASE_NOTICES, {"o": order_no, "t": list(confirmed), "ts": ts})
        if not voided:
            return False
        gone = ActionRow.__table__.c
        seqs = list(s.scalars(select(gone.seq).where(gone.order_no == order_no, gone.confirmed.is_(False),
                                                     gone.token.in_(voided))))
        if seqs:
            s.execute(ActionRow.__table__.delete().where(gone.order_no == order_no, gone.seq.in_(seqs)))
            for t in (DispatchRow, ReturnRequestRow, CallbackRow):  # the KPI rows those steps wrote
                s.execute(t.__table__.delete().where(t.order_no == order_no, t.seq.in_(seqs)))
        s.execute(OutboxRow.__table__.update().where(OutboxRow.order_no == order_no, OutboxRow.status == "held",
                                                     OutboxRow.token.in_(voided)).values(status="void"))
        last = s.scalar(select(OrderRow.last_token).where(OrderRow.order_no == order_no))
        return last in voided


def confirm(db: Database, order_no: str, tokens: list[str]) -> None:
    """Writes an update's answer names (workflows/client.py): their workflow task committed, or
    the answer could not have arrived. Audit rows stand, held notices go out."""
    settle(db, order_no, set(tokens), set())
