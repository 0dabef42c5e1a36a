"""hotline/domain/masking.py, property-tested: whatever the format, a phone number, an ID number, an
e-mail address or the petitioner's name never survives masking; order numbers, dates and
ordinary numbers do; masking is idempotent. Then where it is used: the API for non-owners,
lists, Open311 and the SMS log line."""
from __future__ import annotations

import logging
import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.domain.masking import mask_text
from hotline.domain.models import OrderState

# filler text: Chinese and ASCII words without digits or '@' (so only what we plant is personal)
FILLER = st.text(alphabet=st.sampled_from(list("工地噪音反映处理已联系请回电谢谢，。：abc XYZ")), max_size=12)
SEP = st.sampled_from(["", "-", ".", " "])


@st.composite
def mobiles(draw) -> tuple[str, str]:
    digits = "1" + draw(st.sampled_from("3456789")) + "".join(draw(st.lists(
        st.sampled_from("0123456789"), min_size=9, max_size=9)))
    sep = draw(SEP)
    body = sep.join([digits[:3], digits[3:7], digits[7:]]) if draw(st.booleans()) else \
        sep.join([digits[:4], digits[4:7], digits[7:]]) if sep else digits
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "86", "0086-", "(+86)", "+86-"]))
    return digits, prefix + body


@st.composite
def landlines(draw) -> tuple[str, str]:
    area = draw(st.sampled_from(["0898", "010", "020", "0755"]))
    local = draw(st.sampled_from("2345678")) + "".join(draw(st.lists(st.sampled_from("0123456789"),
                                                                       min_size=7, max_size=7)))
    form = draw(st.sampled_from(["{a}-{l}", "{a}{l}", "({a}){l}", "({a}) {l4} {l8}", "{a} {l}", "{a}.{l}"]))
    return area + local, form.format(a=area, l=local, l4=local[:4], l8=local[4:])


@st.composite
def id_numbers(draw) -> str:
    body = "46" + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=15, max_size=15)))
    return body + draw(st.sampled_from("0123456789X"))


NAMES = st.sampled_from(["王小明", "诸葛测隐", "李娜", "欧阳修文"])


def digits_of(text: str) -> str:
    return re.sub(r"\D", "", text)


@settings(max_examples=300)
@given(FILLER, mobiles(), FILLER)
def test_a_mobile_number_in_any_format_is_masked(before, number, after):
    digits, written = number
    out = mask_text(f"{before}{written}{after}")
    assert digits not in digits_of(out) and written not in out
    assert mask_text(out) == out


@settings(max_examples=200)
@given(FILLER, landlines(), FILLER)
def test_a_landline_with_its_area_code_is_masked(before, number, after):
    digits, written = number
    out = mask_text(f"{before}{written}{after}")
    assert digits not in digits_of(out), out
    assert mask_text(out) == out


@settings(max_examples=200)
@given(FILLER, id_numbers(), FILLER)
def test_an_id_number_is_masked(before, number, after):
    out = mask_text(f"{before}{number}{after}")
    assert number not in out and number[6:14] not in out  # not even the birth date
    assert mask_text(out) == out


@settings(max_examples=200)
@given(FILLER, st.from_regex(r"[a-z][a-z0-9._]{2,12}", fullmatch=True),
       st.sampled_from(["qq.com", "163.com", "sanya.gov.cn"]), FILLER)
def test_an_email_address_is_masked(before, local, domain, after):
    out = mask_text(f"{before}{local}@{domain}{after}")
    assert f"{local}@" not in out
    assert mask_text(out) == out


@settings(max_examples=200)
@given(FILLER, NAMES, st.sampled_from(["", " ", "·"]), FILLER, FILLER)
def test_the_petitioners_name_is_masked_wherever_it_appears(before, name, sep, middle, after):
    spaced = sep.join(name)
    out = mask_text(f"{before}{name}{middle}{spaced}{after}", name=name)
    assert name not in out and (not sep or spaced not in out)
    assert mask_text(out, name=name) == out


@given(st.integers(10**13, 10**14 - 1), st.dates(date(1950, 1, 1), date(2100, 12, 31)), st.integers(0, 99999))
def test_order_numbers_dates_and_amounts_are_left_alone(n, day, amount):
    text = f"工单SY{n}于{day.isoformat()} 10:30受理，{day:%Y.%m.%d}回访，费用{amount}元"
    assert mask_text(text, name="王小明") == text


# ------------------------------------------------------------------ full-width and other forms

# what a writer (or an input method) may put instead of an ASCII digit or separator
WIDE = {**{str(d): chr(0xFF10 + d) for d in range(10)}, "-": "－", ".": "．", " ": "\u3000", "+": "＋",
        "(": "（", ")": "）", "@": "＠", "X": "Ｘ"}
DASHES = ["\u2010", "\u2013", "\u2014", "\u2212", "－"]


@st.composite
def widened(draw, written: str) -> str:
    """`written` with any of its characters in full-width form, and dashes as any dash."""
    out = []
    for c in written:
        if c == "-" and draw(st.booleans()):
            out.append(draw(st.sampled_from(DASHES)))
        elif c in WIDE and draw(st.booleans()):
            out.append(WIDE[c])
        else:
            out.append(c)
    return "".join(out)


@settings(max_examples=300)
@given(FILLER, mobiles(), FILLER, st.data())
def test_a_mobile_number_in_full_width_or_mixed_forms_is_masked(before, number, after, data):
    digits, written = number
    wide = data.draw(widened(written))
    out = mask_text(f"{before}{wide}{after}")
    assert digits not in digits_of(out) and wide not in out, out
    assert mask_text(out) == out
    assert out.startswith(before) and out.endswith(after), "text around it keeps its own characters"


@settings(max_examples=200)
@given(FILLER, landlines(), st.sampled_from(["", "转{e}", "转 {e}", "分机{e}", " ext. {e}", "#{e}", "-{e}"]),
       st.integers(1, 99999), FILLER, st.data())
def test_a_landline_with_an_extension_in_any_form_is_masked(before, number, ext, extension, after, data):
    digits, written = number
    wide = data.draw(widened(written + ext.format(e=extension)))
    out = mask_text(f"{before}{wide}{after}")
    assert digits not in digits_of(out), out
    if ext:
        assert not digits_of(out).endswith(digits[-4:] + str(extension)), out
    assert mask_text(out) == out


@settings(max_examples=200)
@given(FILLER, id_numbers(), FILLER, st.data())
def test_an_id_number_in_full_width_is_masked(before, number, after, data):
    out = mask_text(f"{before}{data.draw(widened(number))}{after}")
    assert number[6:14] not in digits_of(out), out
    assert mask_text(out) == out


@settings(max_examples=100)
@given(FILLER, st.from_regex(r"[a-z][a-z0-9._]{2,12}", fullmatch=True), FILLER, st.data())
def test_an_email_address_with_a_full_width_at_is_masked(before, local, after, data):
    out = mask_text(f"{before}{data.draw(widened(local + '@163.com'))}{after}")
    assert local not in out.lower() or len(local) < 3, out


@settings(max_examples=100)
@given(FILLER, NAMES, st.sampled_from(["\u3000", "・", "•", " · "]), FILLER)
def test_the_name_spaced_with_wide_separators_is_masked(before, name, sep, after):
    out = mask_text(f"{before}{sep.join(name)}{after}", name=name)
    assert sep.join(name) not in out and "*" in out


@settings(max_examples=200)
@given(mobiles(), st.data())
def test_the_petitioners_own_number_is_masked_however_both_are_written(number, data):
    digits, written = number
    phone = data.draw(widened(written))
    text = data.draw(widened(f"回电{digits[:3]}-{digits[3:7]}-{digits[7:]}，本人{digits}"))
    out = mask_text(text, phone=phone)
    masked = digits[:3] + "****" + digits[-4:]
    assert out == f"回电{masked}，本人{masked}", out


def test_own_landline_is_masked_also_without_its_area_code():
    out = mask_text("座机66661234，或０８９８　６６６６　１２３４转12", phone="0898-66661234")
    assert "66661234" not in digits_of(out) and "6666" not in out and "６６６６" not in out, out


def test_full_width_dates_and_order_numbers_are_left_alone():
    text = "工单ＳＹ２０２６１１２６０００００１于２０２６－１１－２６　１０：３０受理，费用１２０元"
    assert mask_text(text, name="王小明") == text


def test_masked_order_state_hides_free_text_too():
    from datetime import datetime, timezone

    from tests.harness import intake
    req = intake(title="王小明反映噪音", description="联系138.5550.1234或wang@qq.com")
    st_ = OrderState(order_no="SY1", workflow_id="order-SY1", stage="handling", owner="ZJJ", category="complaint",
                     urgency="normal", channel="phone", title=req.title, description=req.description,
                     petitioner={"name": "王小明", "phone": "13855501234"}, location=req.location,
                     created_at=datetime.now(timezone.utc), reply_result="已告知王小明",
                     notices=[{"kind": "reminder", "at": datetime.now(timezone.utc), "to": "ZJJ",
                               "reason": "请尽快联系王小明 13855501234"}],
                     actions=[{"seq": 1, "action": "contact", "by": "ZJJ", "at": datetime.now(timezone.utc),
                               "detail": {"note": "已电话联系王小明（138 5550 1234）"}}])
    text = st_.masked().model_dump_json()
    for secret in ("王小明", "13855501234", "138.5550.1234", "138 5550 1234", "wang@qq.com"):
        assert secret not in text, secret
    assert "王**" in text and "138****1234" in text


def test_the_sms_log_line_is_masked(sqlite_db, caplog):
    from hotline.store.outbox import LoggingSmsAdapter
    with caplog.at_level(logging.INFO, logger="hotline.store.outbox"):
        LoggingSmsAdapter().send("13855501234", "您的工单已办结：已告知本人，回电 138-5550-1234", "k1")
    assert "13855501234" not in caplog.text and "138-5550-1234" not in caplog.text
    assert "138****1234" in caplog.text


def test_log_handlers_mask_every_record_and_its_traceback():
    """worker.py and gateway.py log through handlers with the masking filter: a library's line
    or an exception quoting what a citizen wrote is masked before it is written."""
    import io

    from hotline.domain.masking import mask_log_handlers
    out = io.StringIO()
    logger = logging.getLogger("tests.masking.filter")
    logger.propagate = False
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    try:
        mask_log_handlers(logger)
        mask_log_handlers(logger)  # once is enough: no second filter
        assert len(handler.filters) == 1
        logger.warning("gateway said %s for %s", "invalid number １３８－５５５０－１２３４", "wang@qq.com")
        try:
            raise ValueError("input_value='身份证460100199001011234 手机138.5550.1234'")
        except ValueError:
            logger.exception("activity failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "ValueError" in text and "Traceback" in text
    for secret in ("１３８－５５５０－１２３４", "wang@qq.com", "460100199001011234", "19900101", "138.5550.1234"):
        assert secret not in text, secret
    assert "said invalid number 138****1234 for w***@qq.com" in text and "ValueError: input_value=" in text
