"""Identity at the engine (issue 13): actions carry a typed actor, a unit code or a named admin,
and the workflow checks its kind. `is_admin` used to be a prefix check, so anyone reaching the
Temporal frontend could flag staff as `administrator-spoof`."""
from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from hotline.domain.actor import Actor, ActorError, parse_actor
from hotline.domain.models import FlagStaffAction, SignAction
from hotline.domain.order_rules.checks import is_admin
from hotline.store.apikeys import Principal
from tests.harness import running_worker, trace


@pytest.mark.parametrize("by,kind,name", [("ZJJ", "unit", "ZJJ"), ("admin:li", "admin", "li"),
                                          ("admin:审核", "admin", "审核"), ("HOTLINE", "admin", "HOTLINE")])
def test_the_recorded_actors_still_parse_and_print_as_before(by, kind, name):
    actor = parse_actor(by)
    assert (actor.kind, actor.name, str(actor)) == (kind, name, by)


@pytest.mark.parametrize("by", ["administrator-spoof", "admin", "admin:", "admin: ", "adminZJJ", "zjj", "Z",
                                "admin:\x00x", "", "intake:3"])
def test_text_that_only_looks_like_an_actor_is_none(by):
    assert not is_admin(by)
    with pytest.raises(ActorError):
        parse_actor(by)
    with pytest.raises(ValueError):
        FlagStaffAction(by=by, staff="张三", reason="推诿")


def test_the_gateway_derives_the_actor_from_the_key():
    assert Principal("department", "ZJJ", None, 7).acting_as == Actor("unit", "ZJJ")
    admin = Principal("admin", None, "li\x1b[31m", 8)
    assert admin.acting_as == Actor("admin", "li[31m") and admin.actor == "admin:li[31m"
    assert Principal("admin", None, None, 9).actor == "admin:9"
    assert Principal("intake", None, None, 10).acting_as is None
    assert is_admin(Principal("admin", None, "x" * 80, 1).actor)  # long labels are cut, still an admin


async def test_a_spoofed_admin_at_the_frontend_is_refused_by_the_workflow(ts_env, sqlite_db):
    """As the issue's attacker did it: an update sent straight to Temporal, bypassing the gateway."""
    async with running_worker(ts_env.client, sqlite_db) as h:
        order_no, handle = await h.start()
        before = trace(await handle.fetch_history())
        for by in ("administrator-spoof", "admin", "adminZJJ"):
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update("flag_staff", {"by": by, "staff": "张三", "reason": "伪造"})
        # a unit is no admin, an admin is no owner
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("flag_staff", FlagStaffAction(by="ZJJ", staff="张三", reason="x"))
        assert "only the hotline office" in str(refused.value.cause)
        assert trace(await handle.fetch_history()) == before  # nothing was accepted
        st = await h.act(order_no, "flag-staff", FlagStaffAction(by="admin:li", staff="张三", reason="推诿"))
        assert st.actions[-1].by == "admin:li"
        with pytest.raises(Exception, match="only the owner"):
            await h.act(order_no, "sign", SignAction(by="admin:ZJJ"))
