"""`simulate`: two years of Sanya-like 12345 history in the read model, to see the report on data.

What happens to each order is drawn here; how it is recorded is `hotline.simulation.life`
(the workflow's own rules, the activities' rows). The scenario, with why each number:

* Volume: `orders_per_day` on average, higher in the tourist season (Spring Festival,
  January–March) and the typhoon season (August–October), lower at weekends and on public
  holidays, mostly in office hours; the second year 6% busier.
* Units: the Sanya catalogue, each with a share of the orders, its own topics and a
  "discipline" that drives signing late, replying late and resolving; tourism units peak in
  the high season, water, power, sanitation and the districts in the typhoon season.
* First-contact responsibility (首接责任制) starts when the second year starts: units ask to
  return fewer orders (×0.62) and the hotline, which reviews against the responsibility
  lists, rejects fewer of those left (0.62 → 0.395), because units keep what is theirs.
  Invalid returns fall by ≈58% year on year (6% more orders × 0.62 × 0.395 / 0.62 ≈ 0.42),
  Sanya's reported result. Signing, replying and callbacks improve a little as well.
* Refusal strikes (invalid returns, never signed) and long overdue orders climb the ladder,
  so criticisms and referrals appear in the ledger where the policy's rules put them.

Each month is drawn from its own generator seeded by (seed, month), in worker processes, and
inserted here in month order: the same seed and end date give the same rows, ids included,
whatever the number of workers. 24 months × 50 orders a day take about 20-30 s on SQLite.
"""
from __future__ import annotations

import functools
import math
import multiprocessing
import os
import random
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, select

from hotline.domain.codes import DISTRICTS
from hotline.domain.policy import Duration, Policy, load_policy
from hotline.domain.workcal import calendar_for
from hotline.simulation.clock import FastClock
from hotline.simulation.life import SIM_BASE, Cut, SimulatedOrder, new_order, replay_ledger
from hotline.simulation.sinks import BulkSink, ExactSink
from hotline.store import Database
from hotline.store.tables import OrderRow


class SimulationError(ValueError):
    """Bad simulation parameters, or a database that must not receive simulated history."""


MONTH = [1.15, 1.25, 1.05, 0.95, 0.9, 0.85, 0.95, 1.05, 1.1, 1.1, 0.95, 1.05]  # Jan..Dec
WEEKDAY = [1.15, 1.05, 1.0, 1.0, 0.95, 0.75, 0.7]  # Mon..Sun
HOURS = [2, 1, 1, 1, 1, 2, 4, 8, 14, 16, 15, 12, 8, 7, 11, 14, 14, 12, 9, 8, 7, 6, 4, 3]
TOURISM, TYPHOON = {1: 1.4, 2: 1.6, 3: 1.3, 10: 1.3}, {8: 1.5, 9: 1.7, 10: 1.5}

# code: (share, return propensity before the reform, discipline -1..1, season, units it blames)
UNITS = {
    "YZQ": (7, .025, .2, TYPHOON, ["ZJJ", "SWJ", "JTTZ"]), "TYQ": (9, .025, .3, TYPHOON, ["ZFJ", "ZJJ"]),
    "JYQ": (10, .03, .1, TYPHOON, ["ZFJ", "SWJ"]), "HTQ": (5, .025, .2, TYPHOON, ["LWJ", "ZFJ"]),
    "YCQ": (3, .02, .4, TYPHOON, ["ZRJ", "SWJ"]), "ZJJ": (9, .055, -.2, None, ["ZFJ", "JTTZ", "SWJ"]),
    "JTJ": (7, .03, .1, TOURISM, ["GAJ", "JTTZ"]), "SWJ": (5, .05, -.1, TYPHOON, ["ZJJ", "YZQ", "JTTZ"]),
    "ZFJ": (8, .06, -.3, None, ["ZJJ", "HBJ"]), "HBJ": (4, .035, 0, None, ["ZFJ", "SWJ"]),
    "SJJ": (8, .02, .3, TOURISM, ["LWJ"]), "LWJ": (5, .025, .2, TOURISM, ["SJJ", "GAJ"]),
    "GAJ": (5, .015, .4, None, ["JTJ", "ZFJ"]), "ZRJ": (3, .03, 0, None, ["ZJJ", "YZQ"]),
    "WJW": (4, .012, .5, None, ["SJJ"]), "JYJ": (4, .012, .5, None, ["JYQ"]),
    "RSJ": (5, .015, .3, None, ["ZJJ"]), "MZJ": (3, .012, .5, None, ["TYQ"]),
    "YLJ": (5, .04, 0, TYPHOON, ["ZFJ", "JYQ"]), "GDJ": (3, .02, .3, TYPHOON, ["SWJ"]),
    "JTTZ": (1.5, .09, -.5, None, ["SWJ", "JTJ", "ZJJ"]),
}
_DISTRICT_TOPICS = [("村道路灯损坏夜间无照明", "help"), ("征地补偿款迟迟未发放", "complaint"),
                    ("邻里宅基地界址纠纷", "help"), ("台风后村内积水请求排涝", "help"),
                    ("咨询农村建房报建手续", "consultation"), ("村务公开不及时", "complaint"),
                    ("建议增设社区健身设施", "suggestion")]
TOPICS = {code: _DISTRICT_TOPICS for code in DISTRICTS} | {
    "ZJJ": [("小区物业乱收费", "complaint"), ("工地夜间施工噪音扰民", "complaint"),
            ("在建工地围挡破损有安全隐患", "report"), ("咨询住房公积金提取", "consultation"),
            ("商品房延期交房", "complaint"), ("电梯长期故障无人维修", "help")],
    "JTJ": [("出租车拒载绕路", "complaint"), ("公交线路班次太少", "suggestion"), ("网约车乘客遗失物品", "help"),
            ("道路坑洼影响通行", "help"), ("咨询公交卡优惠办理", "consultation")],
    "SWJ": [("小区停水未提前通知", "complaint"), ("排水沟堵塞污水外溢", "help"), ("暴雨后道路积水严重", "help"),
            ("自来水水质发黄", "complaint"), ("咨询水费缴纳方式", "consultation")],
    "ZFJ": [("占道经营影响通行", "complaint"), ("违章搭建", "report"), ("夜间施工噪音", "complaint"),
            ("流动摊贩乱摆卖", "complaint"), ("建议规范夜市摊点", "suggestion")],
    "HBJ": [("工厂废气异味扰民", "complaint"), ("餐饮油烟污染", "complaint"), ("河道污水直排", "report"),
            ("咨询环评审批", "consultation")],
    "SJJ": [("海鲜排档宰客", "complaint"), ("商家价格欺诈", "complaint"), ("超市销售过期食品", "report"),
            ("预付卡商家跑路", "help"), ("咨询个体户营业执照办理", "consultation")],
    "LWJ": [("酒店到店无房", "complaint"), ("导游强制购物", "complaint"), ("景区门票价格不透明", "complaint"),
            ("咨询景区开放时间", "consultation"), ("建议增加旅游咨询点", "suggestion")],
    "GAJ": [("小区周边治安问题", "help"), ("违停车辆堵塞消防通道", "complaint"), ("咨询户口迁移", "consultation"),
            ("咨询居住证办理", "consultation")],
    "ZRJ": [("土地确权登记进度慢", "complaint"), ("咨询不动产登记", "consultation"), ("非法占用耕地", "report")],
    "WJW": [("医院排队时间过长", "complaint"), ("诊所无证行医", "report"), ("咨询疫苗接种", "consultation")],
    "JYJ": [("咨询学位申请", "consultation"), ("幼儿园乱收费", "complaint"), ("学校周边交通安全", "suggestion")],
    "RSJ": [("工地拖欠农民工工资", "help"), ("公司未缴社保", "complaint"), ("咨询社保卡办理", "consultation")],
    "MZJ": [("咨询低保申请", "consultation"), ("养老院服务质量差", "complaint"), ("咨询婚姻登记预约", "consultation")],
    "YLJ": [("垃圾清运不及时", "complaint"), ("行道树倒伏压坏车辆", "help"), ("公园设施损坏", "help"),
            ("台风后断枝未清理", "help")],
    "GDJ": [("小区频繁停电", "complaint"), ("台风后停电未恢复", "help"), ("咨询电费缴纳", "consultation")],
    "JTTZ": [("在建项目施工堵塞排水沟", "complaint"), ("项目施工扬尘", "complaint"), ("施工车辆损坏道路", "complaint")],
}
SURNAMES = "王李张刘陈杨黄赵吴周符林吉邢羊麦"


def _known(t: datetime | None, what: str) -> datetime:
    """A time the scenario has already set on the order (signed, dispatched, a deadline computed
    at dispatch): the invariant, stated once for the type checker."""
    assert t is not None, f"{what} is set by this point of the scenario"
    return t


class Scenario:
    """Draws one month of orders at a time, each month from its own seeded generator, so the
    months can be drawn in parallel and the rows are the same whichever way they are."""

    def __init__(self, policy: Policy, seed: int, first: date, until: date, per_day: int,
                 reform: date | None, sink) -> None:
        self.policy, self.seed, self.per_day, self.reform, self.sink = policy, seed, per_day, reform, sink
        self.cal = calendar_for(policy)
        self.clock = FastClock(self.cal, first - timedelta(days=2), until + timedelta(days=200))
        self.tz = ZoneInfo(policy.timezone)
        self.until = until
        self.end = datetime(until.year, until.month, until.day, tzinfo=self.tz).astimezone(UTC)
        self.strikes: list = []
        self._wd: dict[int, Duration] = {}
        self.stats: dict[str, Any] = {"orders": 0, "steps": 0, "returns": 0,
                                      "invalid_returns": {"before": 0, "after": 0}}

    # -- helpers
    def work(self, t: datetime, hours: float) -> datetime:
        """`hours` of working time after t, on the calendar."""
        days = max(1, math.ceil(hours * 3600 / self.cal.seconds_per_day))
        limit = self._wd.get(days) or self._wd.setdefault(days, Duration(amount=days, unit="wd"))
        return self.clock.fraction(t, limit, hours * 3600 / (days * self.cal.seconds_per_day))[0]

    def within(self, start: datetime, limit: Duration, f: float) -> datetime:
        return self.clock.fraction(start, limit, f)[0]

    def poisson(self, lam: float) -> int:
        if lam > 30:
            return max(0, round(self.rng.gauss(lam, math.sqrt(lam))))
        k, p, limit = 0, 1.0, math.exp(-lam)
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    # -- the history
    def run_month(self, month: date) -> None:
        self.rng = random.Random(f"{self.seed}:{month:%Y-%m}")
        mean_month = sum(MONTH) / 12
        day, last = month, min(self.until, months_before(month, -1))
        while day < last:
            after = self.reform is not None and day >= self.reform
            workday = self.cal.is_workday(day)[0]
            factor = MONTH[day.month - 1] / mean_month * (1.06 if after else 1.0)
            factor *= WEEKDAY[day.weekday()] if workday or day.weekday() >= 5 else 0.7  # holiday on a weekday
            n = self.poisson(self.per_day * factor)
            times = sorted(datetime(day.year, day.month, day.day, self.rng.choices(range(24), HOURS)[0],
                                    self.rng.randrange(60), self.rng.randrange(60), tzinfo=self.tz).astimezone(UTC)
                           for _ in range(n))
            for i, created in enumerate(times, 1):
                self.order(f"SY{day:%Y%m%d}{SIM_BASE + i:06d}", created, after)
            day += timedelta(days=1)

    def order(self, order_no: str, created: datetime, after: bool) -> None:
        rng, p = self.rng, self.policy
        month = created.astimezone(self.tz).month
        codes = list(UNITS)
        owner = rng.choices(codes, [u[0] * ((u[3] or {}).get(month, 1.0)) for u in UNITS.values()])[0]
        share, ret_p, quality, _season, blames = UNITS[owner]
        title, category = rng.choice(TOPICS[owner])
        urgent = category in ("help", "complaint") and rng.random() < 0.05
        district = owner if owner in DISTRICTS else rng.choice(DISTRICTS)
        st = new_order(order_no, created, owner, category, "urgent" if urgent else "normal", title,
                       f"{title}，请尽快处理。", district, rng.choice(SURNAMES) + rng.choice(("先生", "女士")),
                       "1" + rng.choice(("38", "39", "36", "58", "88", "89", "98")) + f"{rng.randrange(10**8):08d}",
                       rng.choices(("phone", "wechat", "app", "web"), (70, 15, 8, 7))[0], p)
        life = SimulatedOrder(self.sink, p, st, self.end, self.clock)
        self.stats["orders"] += 1
        try:
            self._live(life, ret_p * (0.62 if after else 1.0), quality + (0.25 if after else 0.0), blames, after)
        except Cut:
            pass
        life.finish()
        self.strikes += life.strikes
        self.stats["steps"] += life.seq

    def _after(self, life: SimulatedOrder, t: datetime, lo: int = 3, hi: int = 40) -> datetime:
        """Steps of one order never go back in time: at least a few minutes after the last one."""
        return max(t, life.last_at + timedelta(minutes=self.rng.randint(lo, hi)))

    def _live(self, life: SimulatedOrder, ret_p: float, q: float, blames: list[str], after: bool) -> None:
        rng, st, p = self.rng, life.st, self.policy
        life.intake(st.created_at + timedelta(seconds=rng.randint(2, 20)))
        d = st.deadlines
        self._sign(life, q, first=True)
        signed_at, return_until = _known(st.signed_at, "signed_at"), _known(d.return_until, "return_until")
        if rng.random() < ret_p and signed_at < return_until:
            self.stats["returns"] += 1
            claimed = rng.choice(blames)
            asked = min(self._after(life, self.work(signed_at, rng.uniform(0.2, 5))), return_until)
            reject = rng.random() < (0.395 if after else 0.62)
            agree = rng.random() < 0.8  # the recommendation from the responsibility lists, mostly followed
            life.return_request(asked, claimed, "该事项不属于本单位职责", f"依据权责清单，该事项属于{claimed}职责",
                                "reject" if reject == agree else "approve")
            life.return_review(self.work(asked, rng.uniform(0.5, 6)), not reject,
                               "本单位权责清单涵盖该事项，首接负责" if reject else "经核实属于所称单位职责")
            if reject:
                self.stats["invalid_returns"]["after" if after else "before"] += 1
            else:
                self._sign(life, q, first=False)
        contact_limit = p.contact_limit(st.urgency.value)
        if rng.random() < 0.03:
            t = self.work(_known(d.contact_by, "contact_by"), rng.uniform(0.5, 5))
        else:
            t = self.within(_known(st.signed_at, "signed_at"), contact_limit, rng.uniform(0.05, 0.9))
        life.contact(self._after(life, t), "已联系诉求人，了解情况")
        handling = p.handling_limit(st.category.value, st.urgency.value)
        if handling.unit == "wd" and handling.amount >= 3 and rng.random() < 0.04:
            asked = self._after(life, self.within(_known(st.dispatched_at, "dispatched_at"), handling, 0.6))
            if asked < _known(d.reply_by, "reply_by"):
                life.extension(asked, rng.randint(2, 5), "需协调多部门现场处置", self.work(asked, rng.uniform(1, 6)),
                               rng.random() < 0.85)
        for _ in range(1 + p.max_reopens):
            life.reply(self._reply_time(life, q), rng.random() < 0.88 + 0.06 * q, "已核实处理，情况已向诉求人反馈")
            if not self._callback(life, q, after):
                return

    def _sign(self, life: SimulatedOrder, q: float, first: bool) -> None:
        rng, st = self.rng, life.st
        d, limit = st.deadlines, self.policy.sign_limit(st.urgency.value)
        if first and rng.random() < 0.002:  # never signed before the handling deadline: a refusal strike
            t = self.work(_known(d.reply_by, "reply_by"), rng.uniform(0.5, 3))
        elif rng.random() < max(0.005, 0.04 - 0.025 * q):
            t = _known(d.sign_by, "sign_by") + timedelta(minutes=1 + rng.expovariate(1 / 150))
        else:
            t = self.within(_known(st.dispatched_at, "dispatched_at"), limit, rng.betavariate(1.3, 3) * 0.97)
        life.sign(max(t, life.last_at + timedelta(seconds=30)))

    def _reply_time(self, life: SimulatedOrder, q: float) -> datetime:
        rng, st = self.rng, life.st
        reply_by = _known(st.deadlines.reply_by, "reply_by")
        r = rng.random()
        if r < 0.0012:  # long overdue: still unreplied 5wd after the supervision notice → escalation
            t = self.work(reply_by, 7 * 5.5 + rng.uniform(1, 20))
        elif r < max(0.01, 0.08 - 0.05 * q):
            t = self.work(reply_by, rng.expovariate(1 / 5) + 0.1)
        else:  # within the deadline, measured in working time from dispatch (or from the reopen)
            start = st.actions[-1].at if st.reopens else _known(st.dispatched_at, "dispatched_at")
            hours = self.clock.working_seconds(start, reply_by) / 3600
            t = self.work(start, hours * rng.betavariate(2, 2.2) * 0.97) if hours > 0 else start
        return self._after(life, t, 10, 90)

    def _callback(self, life: SimulatedOrder, q: float, after: bool) -> bool:
        """Rate the reply; True when the order was reopened (重办) and goes round again."""
        rng, t = self.rng, life.last_at
        if rng.random() > 0.88:  # unrated: perhaps a call nobody answered; the answer window then lapses
            if rng.random() < 0.5:
                life.callback_unanswered(self.work(t, rng.uniform(0.5, 5)))
            return False
        resolved = bool(life.st.resolved) and rng.random() < 0.93 + 0.04 * q
        weights = (74, 22, 4) if resolved else (8, 32, 60)
        if after:
            weights = (weights[0] + 4, weights[1], max(1, weights[2] - 4))
        sat = rng.choices(("satisfied", "basically_satisfied", "dissatisfied"), weights)[0]
        reopens = life.st.reopens
        life.callback(self.work(t, rng.uniform(0.3, 6.5)), resolved, sat)
        return life.st.reopens > reopens


def simulate(db: Database, months: int = 24, orders_per_day: int = 50, seed: int = 12345,
             until: date | None = None, policy: Policy | None = None, exact: bool = False,
             force: bool = False, workers: int | None = None) -> dict:
    """Generate `months` of history ending at `until` (default: the 1st of the current local
    month), about `orders_per_day` orders a day. The same seed and `until` give the same rows.
    `exact=True` records step by step through the activities (slow; the tests compare both)."""
    policy = policy or load_policy("sanya")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        raise SimulationError(f"months must be a whole number from 1 to 120, got {months!r}")
    if isinstance(orders_per_day, bool) or not isinstance(orders_per_day, int) or not 1 <= orders_per_day <= 2000:
        raise SimulationError(f"orders per day must be a whole number from 1 to 2000, got {orders_per_day!r}")
    tz = ZoneInfo(policy.timezone)
    until = until or datetime.now(tz).date().replace(day=1)
    first = months_before(until, months)
    if first.year < 2000:
        raise SimulationError(f"the history would start in {first.year}; choose a later --until")
    _check_target(db, force)
    from hotline.store.units import import_catalogue, units_loaded
    if not units_loaded(db):
        from hotline.domain.catalogue import default_catalogue_path, load_catalogue
        import_catalogue(db, load_catalogue(default_catalogue_path()))
    t0 = time.perf_counter()
    reform = months_before(until, 12) if months > 12 else None
    month_list = [m for m in (months_before(first, -i) for i in range(months + 1)) if m < until]
    args: MonthArgs = (policy, seed, first, until, orders_per_day, reform, db.url)
    sink = ExactSink(db, policy) if exact else BulkSink(db)
    summary: dict = {"orders": 0, "steps": 0, "returns": 0, "invalid_returns": {"before": 0, "after": 0}}
    strikes: list = []
    workers = 1 if exact or db.url.endswith(":memory:") else max(1, min(workers or os.cpu_count() or 1,
                                                                         len(month_list)))
    results: Iterable[tuple[dict, list, dict | None]]
    if workers == 1:
        results = (_draw_month(args, m, sink if exact else None) for m in month_list)
        pool = None
    else:  # months drawn in worker processes, rows inserted here in month order (same ids)
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_draw_month, [args] * len(month_list), month_list)
    try:
        for stats, month_strikes, rows in results:
            if rows:
                sink.insert(rows)
            strikes += month_strikes
            for k in ("orders", "steps", "returns"):
                summary[k] += stats[k]
            for k in ("before", "after"):
                summary["invalid_returns"][k] += stats["invalid_returns"][k]
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    summary["ledger"] = replay_ledger(strikes, policy, sink)
    sink.flush()
    summary.update({"from": first.isoformat(), "until": until.isoformat(), "seed": seed, "workers": workers,
                    "seconds": round(time.perf_counter() - t0, 1)})
    return summary


MonthArgs = tuple[Policy, int, date, date, int, "date | None", str]


def _draw_month(args: MonthArgs, month: date, sink=None) -> tuple[dict, list, dict | None]:
    """One month of history: its stats, its strikes, and (unless a sink records it) its rows,
    bound for the target database so that inserting them is all that is left to do."""
    policy, seed, first, until, per_day, reform, url = args
    collect = sink is None
    scenario = Scenario(policy, seed, first, until, per_day, reform, sink=BulkSink(None) if collect else sink)
    scenario.run_month(month)
    rows = scenario.sink.take(_dialect(url)) if collect else None
    return scenario.stats, scenario.strikes, rows


@functools.lru_cache(maxsize=4)
def _dialect(url: str):
    return create_engine(url).dialect  # no connection is made


def months_before(d: date, months: int) -> date:
    m = d.year * 12 + d.month - 1 - months
    return date(m // 12, m % 12 + 1, 1)


def _check_target(db: Database, force: bool) -> None:
    with db.session() as s:
        simulated = s.scalar(select(func.count()).select_from(OrderRow).where(OrderRow.order_no.like("SY________9%")))
        total = s.scalar(select(func.count()).select_from(OrderRow))
    if simulated:
        raise SimulationError(f"the database already holds {simulated} simulated orders; simulate into a fresh "
                              "DATABASE_URL")
    if total and not force:
        raise SimulationError(f"the database holds {total} real work orders and simulated history would mix into "
                              "their KPIs; use a separate DATABASE_URL, or --force")
