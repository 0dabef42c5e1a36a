"""The Sanya unit catalogue and its validation (SPEC §5, issue 5): the shipped file is complete,
and malformed files are refused whole, each problem named with its line."""

from pathlib import Path

import pytest

from hotline.domain.catalogue import (
    CATEGORIES,
    Catalogue,
    CatalogueError,
    default_catalogue_path,
    load_catalogue,
)
from hotline.domain.codes import DISTRICTS

SPEC_UNITS = {
    "HOTLINE": ("三亚市12345政府服务热线管理办公室", "hotline"),
    "YZQ": ("崖州区人民政府", "district"),
    "TYQ": ("天涯区人民政府", "district"),
    "JYQ": ("吉阳区人民政府", "district"),
    "HTQ": ("海棠区人民政府", "district"),
    "YCQ": ("育才生态区管理委员会", "district"),
    "ZJJ": ("住房和城乡建设局", "bureau"),
    "JTJ": ("交通运输局", "bureau"),
    "SWJ": ("水务局", "bureau"),
    "ZFJ": ("综合行政执法局", "bureau"),
    "HBJ": ("生态环境局", "bureau"),
    "SJJ": ("市场监督管理局", "bureau"),
    "LWJ": ("旅游和文化广电体育局", "bureau"),
    "GAJ": ("公安局", "bureau"),
    "ZRJ": ("自然资源和规划局", "bureau"),
    "WJW": ("卫生健康委员会", "bureau"),
    "JYJ": ("教育局", "bureau"),
    "RSJ": ("人力资源和社会保障局", "bureau"),
    "MZJ": ("民政局", "bureau"),
    "YLJ": ("园林环卫管理局", "bureau"),
    "GDJ": ("三亚供电局", "enterprise"),
    "JTTZ": ("三亚交通投资集团有限公司", "enterprise"),
}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(default_catalogue_path())


def test_default_path_is_the_packaged_file():
    path = default_catalogue_path()
    assert path.name == "units.yaml" and path.parent.name == "data"
    assert path.is_file()


def test_every_spec_unit_is_there_with_its_name_and_type(catalogue):
    assert set(catalogue.codes) == set(SPEC_UNITS)
    for code, (name, unit_type) in SPEC_UNITS.items():
        unit = catalogue.unit(code)
        assert name in unit.name, code
        assert unit.type == unit_type, code


def test_owners_publish_several_duties_and_the_hotline_none(catalogue):
    assert catalogue.unit("HOTLINE").responsibilities == []
    assert "HOTLINE" not in [u.code for u in catalogue.owners()]
    for unit in catalogue.owners():
        assert len(unit.responsibilities) >= 3, unit.code
        for entry in unit.responsibilities:
            assert entry.matter and entry.keywords and entry.categories
            assert set(entry.categories) <= set(CATEGORIES)


def test_district_governments_cover_their_own_district_and_bureaus_all(catalogue):
    for district in DISTRICTS:
        gov = catalogue.district_government(district)
        assert gov is not None and gov.code == district and gov.districts == [district]
        assert gov.places, "place names let the router infer the district from the text"
    for unit in catalogue.units:
        if unit.type in ("bureau", "hotline"):
            assert set(unit.districts) == set(DISTRICTS), unit.code


def test_jttz_duties_are_its_own_projects_including_tangbian_road(catalogue):
    jttz = catalogue.unit("JTTZ")
    matters = " ".join(e.matter for e in jttz.responsibilities)
    assert "塘边路" in matters and "铁路" in matters
    ditch = [e for e in jttz.responsibilities if "排水沟" in e.keywords]
    assert ditch and "塘边路" in ditch[0].places and ditch[0].districts == ["YZQ"]


def test_load_from_text_and_from_path_agree(tmp_path, catalogue):
    text = default_catalogue_path().read_text(encoding="utf-8")
    copy = tmp_path / "units.yaml"
    copy.write_text(text, encoding="utf-8")
    assert load_catalogue(text) == catalogue
    assert load_catalogue(copy) == catalogue
    assert load_catalogue(str(copy)) == catalogue


# --------------------------------------------------------------------------- malformed files

GOOD_UNIT = """\
  - code: SWJ
    name: 三亚市水务局
    type: bureau
    districts: [YZQ, TYQ]
    responsibilities:
      - matter: 城市供水
        keywords: [停水, 水压]
        categories: [help, complaint]
        basis: 《城市供水条例》
"""


def _refused(text: str) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(text)
    return info.value


def test_a_minimal_file_loads():
    cat = load_catalogue("units:\n" + GOOD_UNIT)
    assert cat.codes == ["SWJ"]
    assert cat.unit("SWJ").responsibilities[0].basis == "《城市供水条例》"


def test_duplicate_unit_code_is_refused_with_both_lines():
    err = _refused("units:\n" + GOOD_UNIT + GOOD_UNIT)
    assert any("line 11" in e and "duplicate unit code 'SWJ'" in e and "line 2" in e
               for e in err.errors), err.errors
    assert "line 11" in str(err)


def test_unknown_district_is_refused_with_its_line():
    text = "units:\n" + GOOD_UNIT.replace("[YZQ, TYQ]", "[YZQ, SHQ]")
    err = _refused(text)
    assert len(err.errors) == 1
    assert err.errors[0].startswith("line 5:") and "unknown district code 'SHQ'" in err.errors[0]


def test_empty_responsibility_list_is_refused_with_its_line():
    text = "units:\n  - code: JYJ\n    name: 三亚市教育局\n    type: bureau\n" \
           "    districts: [YZQ]\n    responsibilities: []\n"
    err = _refused(text)
    assert any(e.startswith("line 6:") and "responsibility list is empty" in e
               for e in err.errors), err.errors


def test_hotline_may_have_an_empty_list():
    cat = load_catalogue("units:\n  - code: HOTLINE\n    name: 热线办\n    type: hotline\n"
                         "    districts: [YZQ]\n    responsibilities: []\n")
    assert cat.owners() == []


def test_bad_yaml_is_refused_with_its_line():
    text = "units:\n" + GOOD_UNIT.replace("keywords: [停水, 水压]", "keywords: [停水, 水压")
    err = _refused(text)
    assert len(err.errors) == 1 and "YAML syntax error" in err.errors[0]
    assert err.errors[0].startswith("line 9:")  # where the parser found the unclosed list


def test_unknown_category_type_and_missing_field_each_named():
    text = "units:\n" + GOOD_UNIT.replace("[help, complaint]", "[help, complain]").replace(
        "type: bureau", "type: ministry").replace("    name: 三亚市水务局\n", "")
    err = _refused(text)
    joined = "\n".join(err.errors)
    assert "line 3:" in joined and "unknown unit type 'ministry'" in joined
    assert "line 8:" in joined and "unknown category 'complain'" in joined
    assert "name: missing field" in joined
    assert len(err.errors) == 3, "every problem is reported at once"


def test_all_problems_of_a_file_are_listed_together_and_nothing_is_returned():
    text = "units:\n" + GOOD_UNIT + GOOD_UNIT.replace("[YZQ, TYQ]", "[XX]") + \
        "  - code: JTJ\n    name: 交通局\n    type: bureau\n    districts: [YZQ]\n"
    err = _refused(text)
    joined = "\n".join(err.errors)
    assert "duplicate unit code" in joined
    assert "unknown district code 'XX'" in joined
    assert "unit JTJ" in joined and "responsibility list is empty" in joined
    assert all(e.startswith("line ") for e in err.errors)


def test_duplicate_key_and_unknown_field_are_refused():
    text = "units:\n" + GOOD_UNIT.replace("    type: bureau\n",
                                          "    type: bureau\n    type: bureau\n    colour: red\n")
    joined = "\n".join(_refused(text).errors)
    assert "line 5: duplicate key 'type'" in joined
    assert "line 6:" in joined and "colour: unknown field" in joined


def test_entry_district_outside_the_unit_and_one_character_keyword():
    text = "units:\n" + GOOD_UNIT.replace(
        "        basis: 《城市供水条例》\n",
        "        basis: 《城市供水条例》\n        districts: [HTQ]\n").replace("水压]", "水]")
    joined = "\n".join(_refused(text).errors)
    assert "line 11:" in joined and "'HTQ' is outside the unit's districts" in joined
    assert "line 8:" in joined and "'水' must be text of at least 2 characters" in joined


def test_not_a_catalogue_at_all():
    assert "line 1:" in _refused("- just\n- a list\n").errors[0]
    assert "line 1:" in _refused("units: 3\n").errors[0]


def test_missing_file_is_an_error_not_a_crash(tmp_path):
    err = _refused(str(tmp_path / "nope.yaml"))
    assert "cannot read catalogue file" in err.errors[0]
    with pytest.raises(CatalogueError):
        load_catalogue(Path(tmp_path / "nope.yaml"))
