def simulate(db: Database, months: int = 24, orders_per_day: int = 50, seed: int = 12345,
             until: date | None = None, policy: Policy | None = None, exact: bool = False,
             force: bool = False) -> dict:
    """Generate `months` of history ending at `until` (default: the 1st of the current month,
    local), about `orders_per_day` orders a day. Same seed and `until` → the same rows."""
    policy = policy or load_policy("sanya")
    if not isinstance(months, int) or not 1 <= months <= 120:
        raise SimulationError(f"months must be a whole number from 1 to 120, got {months!r}")
    if not isinstance(orders_per_day, int) or not 1 <= orders_per_day <= 2000:
        raise SimulationError(f"orders per day must be a whole number from 1 to 2000, got {orders_per_day!r}")
    tz = ZoneInfo(policy.timezone)
    until = until or datetime.now(tz).date().replace(day=1)
    first = _months_before(until, months)
    _check_target(db, force)
    from hotline.units import import_catalogue, units_loaded
    if not units_loaded(db):
        from hotline.catalogue import default_catalogue_path, load_catalogue
        import_catalogue(db, load_catalogue(default_catalogue_path()))
    t0 = time.perf_counter()
    sink = ExactSink(db, policy) if exact else BulkSink(db)
    scenario = Scenario(random.Random(seed), policy, first, until, orders_per_day, _months_before(until, 12)
                        if months > 12 else None)
    summary = scenario.run(sink, OrderLife, new_order, SIM_BASE)
    summary["ledger"] = replay_ledger(scenario.strikes, policy, sink)
    sink.flush()
    summary.update({"from": first.isoformat(), "until": until.isoformat(), "seed": seed,
                    "seconds": round(time.perf_counter() - t0, 1)})
    return summary


def _months_before(d: date, months: int) -> date:
    m = d.year * 12 + d.month - 1 - months
    return date(m // 12, m % 12 + 1, 1)


def _check_target(db: Database, force: bool) -> None:
    with db.session() as s:
        sim = s.scalar(select(func.count()).select_from(OrderRow).where(OrderRow.order_no.like("SY________9%")))
        total = s.scalar(select(func.count()).select_from(OrderRow))
    if sim:
        raise SimulationError(f"the database already holds {sim} simulated orders; simulate into a fresh "
                              "DATABASE_URL")
    if total and not force:
        raise SimulationError(f"the database holds {total} real work orders; simulated history would mix into "
                              "their KPIs. Use a separate DATABASE_URL, or --force")


_ = (Duration,)  # re-exported for callers building custom lives
