"""Chinese labels of the domain's codes, for the console's pages."""
from __future__ import annotations

STAGES = {"intake": "受理", "dispatched": "待签收", "signed": "已签收", "handling": "办理中",
          "return_review": "退单审核", "replied": "已答复", "callback": "待回访", "reopened": "重办",
          "closed": "已办结"}
CATEGORIES = {"consultation": "咨询", "help": "求助", "complaint": "投诉", "report": "举报", "suggestion": "建议"}
URGENCY = {"normal": "一般", "urgent": "紧急"}
CHANNELS = {"phone": "电话", "web": "网站", "app": "App", "wechat": "微信", "open311": "Open311"}
DISTRICTS = {"YZQ": "崖州区", "TYQ": "天涯区", "JYQ": "吉阳区", "HTQ": "海棠区", "YCQ": "育才生态区"}
ACTIONS = {"intake": "受理", "dispatch": "转办", "redispatch": "重新转办", "sign": "签收", "contact": "先行联系",
           "coordination-plan": "联办方案", "co-handler-done": "联办完成", "extension-request": "延期申请",
           "extension-review": "延期审核", "return-request": "退单申请", "return-review": "退单审核",
           "reply": "答复", "callback-start": "进入回访", "callback": "回访", "reopen": "重办", "close": "办结",
           "unrated": "未评价办结", "flag-staff": "移送个人问责",
           "merge": "并单", "unmerge": "取消并单", "petitioner-callback": "回访（诉求人）",
           # what the order does by itself when a deadline passes
           "sign-overdue": "签收超时", "reminder": "催办", "supervision": "督办", "strike": "记录拒办",
           "contact-overdue": "先行联系超时", "coordination-window-closed": "联办方案时限届满",
           "co-handler-overdue": "联办超时", "callback-overdue": "回访超时", "deadlines-recomputed": "按新日历调整期限"}
DECISIONS = {"clear_owner": "权责清单明确", "nearest_duty": "职责最相近", "district_fallback": "属地兜底",
             "approve": "同意", "reject": "驳回"}
SATISFACTION = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
DEADLINES = {"sign_by": "签收时限", "contact_by": "先行联系时限", "coordinate_by": "联办方案时限",
             "reply_by": "办理时限", "return_until": "退单时限", "callback_by": "回访时限", "answer_by": "评价时限"}
ROLES = {"intake": "话务员", "admin": "热线办", "department": "承办单位"}


def get(table: dict, code) -> str:
    code = getattr(code, "value", code)
    return table.get(code, code if code is not None else "—")
