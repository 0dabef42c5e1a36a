"""Where simulated orders go: through the store's own recording code, or the same rows in bulk.

`ExactSink` records each action as the workflow's `record_action` does (its steps, with the
order's state as the action left it) and each ledger fact as `record_ledger_event` does,
through hotline/store/recording.py and hotline/store/ledger.py. `BulkSink` builds the very same rows
in memory (the orders row through `state_values`, the KPI rows by the rules of `kpi_rows`) and
inserts them in batches; tests/simulation/test_simulate.py proves both write identical rows.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert

from hotline.domain.contracts import StepEntry
from hotline.domain.models import OrderState
from hotline.domain.order_rules.kinds import StepKind
from hotline.domain.policy import Policy
from hotline.domain.supervision import LedgerEvent
from hotline.store import Database
from hotline.store.ledger import record_event
from hotline.store.recording import insert_step, kpi_rows, state_values, write_order
from hotline.store.tables import (
    ActionRow,
    Base,
    CallbackRow,
    DispatchRow,
    OrderRow,
    ReturnRequestRow,
    SupervisionEventRow,
)


class ExactSink:
    """Each action written as the workflow writes it, each ledger fact as the activity records it."""

    def __init__(self, db: Database, policy: Policy) -> None:
        self.db = db
        self._steps: list[StepEntry] = []

    def step(self, st: OrderState, seq: int, action: str, by: str, at: datetime, detail: dict) -> None:
        self._steps.append(StepEntry.model_construct(seq=seq, action=action, by=by, at=at, detail=detail))

    def action_done(self, st: OrderState) -> None:
        """The action (or deadline follow-up) let go of the order: its steps and the order's row,
        in one transaction, as `record_action` writes them (confirmed: nothing to wait for)."""
        if not self._steps:
            return
        steps, self._steps = self._steps, []
        with self.db.writer() as s:
            for entry in steps:
                insert_step(s, st, entry, None, None)
                kpi_rows(s, entry, st)
            write_order(s, st, steps[-1].seq, None, None)

    def end_order(self, st: OrderState, seq: int, at: datetime) -> None:
        pass

    def ledger(self, ev: LedgerEvent) -> None:
        record_event(self.db, ev)

    def flush(self) -> None:
        pass

    def insert(self, rows) -> None:
        raise AssertionError("the exact sink records as it goes")


class BulkSink:
    """The rows `record_step` would write, built in memory and inserted in batches.

    Same rules as `kpi_rows`: a dispatch row per dispatch/redispatch, signed
    on the latest one; a return row per request, decided on the latest one; a callback row per
    callback or unrated. The orders row is the order's state at its last step (what
    `state_values` gives after the last write); `updated_at` is that step's time
    rather than the wall clock, so a seed gives the same rows every time.
    """

    TABLES = (OrderRow, ActionRow, DispatchRow, ReturnRequestRow, CallbackRow, SupervisionEventRow)

    def __init__(self, db: Database | None, batch: int = 100_000) -> None:
        self.db, self.batch = db, batch
        self.rows: dict[type[Base], list[dict]] = {t: [] for t in self.TABLES}
        self._dispatch: dict | None = None
        self._return: dict | None = None
        self._columns = [c.key for c in OrderRow.__table__.columns]

    def step(self, st: OrderState, seq: int, action: str, by: str, at: datetime, detail: dict) -> None:
        no = st.order_no
        self.rows[ActionRow].append({"order_no": no, "seq": seq, "action": action, "actor": by, "at": at,
                                     "detail": detail, "wft": None, "confirmed": True})
        if action in (StepKind.DISPATCH, StepKind.REDISPATCH):
            self._dispatch = {"order_no": no, "seq": seq, "unit_code": st.owner, "dispatched_at": at,
                              "sign_by": st.deadlines.sign_by, "signed_at": None, "signed_on_time": None}
            self.rows[DispatchRow].append(self._dispatch)
        elif action == StepKind.SIGN and self._dispatch is not None:
            sign_by = self._dispatch["sign_by"]
            self._dispatch.update(signed_at=at, signed_on_time=bool(sign_by is None or at <= sign_by))
        elif action == StepKind.RETURN_REQUEST:
            self._return = {"order_no": no, "seq": seq, "unit_code": by, "claimed_unit": detail["claimed_unit"],
                            "reason": detail["reason"], "basis": detail["basis"], "requested_at": at,
                            "recommendation": detail.get("recommendation") or {}, "decision": None,
                            "reviewer": None, "review_reason": None, "reviewed_at": None}
            self.rows[ReturnRequestRow].append(self._return)
        elif action == StepKind.RETURN_REVIEW and self._return is not None:
            self._return.update(decision=detail["decision"], reviewer=by, review_reason=detail.get("reason"),
                                reviewed_at=at)
        elif action in (StepKind.CALLBACK, StepKind.UNRATED):
            self.rows[CallbackRow].append({
                "order_no": no, "seq": seq, "unit_code": st.owner, "at": at, "answered": bool(detail.get("answered")),
                "resolved": detail.get("resolved"), "satisfaction": detail.get("satisfaction"),
                "unrated": action == StepKind.UNRATED})

    def action_done(self, st: OrderState) -> None:
        pass

    def end_order(self, st: OrderState, seq: int, at: datetime) -> None:
        row = {c: None for c in self._columns} | {"order_no": st.order_no, **state_values(st, seq),
                                                   "updated_at": at}
        self.rows[OrderRow].append({c: row[c] for c in self._columns})
        self._dispatch = self._return = None
        if self.db is not None and len(self.rows[ActionRow]) >= self.batch:
            self.flush()

    def ledger(self, ev: LedgerEvent) -> None:
        self.rows[SupervisionEventRow].append({"key": ev.key, "unit_code": ev.unit, "year": ev.year, "kind": ev.kind,
                                               "at": ev.at, "order_no": ev.order_no, "detail": ev.detail})

    def take(self, dialect=None) -> dict[str, tuple]:
        """The rows so far, by table name, ready for `insert` (possibly in another process:
        with the target's dialect, the values are bound here and the inserting side only
        hands them to the driver)."""
        out = {t.__tablename__: _prepare(dialect, t.__table__, r) for t, r in self.rows.items() if r}
        self.rows = {t: [] for t in self.TABLES}
        return out

    def insert(self, prepared: dict[str, tuple]) -> None:
        assert self.db is not None, "only a sink bound to a database inserts (a drawing-only sink just takes)"
        with self.db.engine.begin() as conn:
            for table in self.TABLES:
                sql, params = prepared.get(table.__tablename__, (None, None))
                if params and sql is not None:
                    conn.exec_driver_sql(sql, params)
                elif params:
                    conn.execute(insert(table.__table__), params)

    def flush(self) -> None:
        if self.db is not None:
            self.insert(self.take(self.db.engine.dialect))


def _prepare(dialect, table, rows: list[dict]) -> tuple[str | None, list]:
    """An INSERT for many rows. On SQLite: the statement SQLAlchemy compiles and the values its
    column types bind (dates, JSON, booleans) as plain tuples for the driver's executemany, which
    skips SQLAlchemy's per-row bookkeeping (most of the cost). Elsewhere: (None, rows) for a
    Core insert, which batches them itself."""
    if dialect is None or dialect.name != "sqlite":
        return None, rows
    keys = list(rows[0])
    compiled = insert(table).compile(dialect=dialect, column_keys=keys)
    assert compiled.positiontup is not None, "SQLite's paramstyle is positional (qmark)"
    order = list(compiled.positiontup)
    plan = [(k, table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) for k in order]
    return str(compiled), [tuple(proc(r[k]) if proc else r[k] for k, proc in plan) for r in rows]
