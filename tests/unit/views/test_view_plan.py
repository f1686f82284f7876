"""Planning typed views: names, collisions, types, the mapping file (``projections.view_plan``,
``schemas.view_mapping``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.column_types import ColumnType
from core.errors import ConfigError
from core.ion_kinds import IonKind
from projections.view_plan import (
    HISTORY_COLUMNS,
    MAX_VIEW_COLUMNS,
    Naming,
    ViewsPlan,
    plan_views,
    representable,
)
from schemas.view_mapping import NO_MAPPING, parse_mapping

SQLITE = Naming("SQLite", frozenset({"documents"}), ("sqlite_",), fold_ascii_case=True)
POSTGRES = Naming("PostgreSQL", max_bytes=63)
K = frozenset


def plan(
    tables: dict[str, dict[str, set[IonKind]]], naming: Naming = SQLITE, **kw: object
) -> ViewsPlan:
    types = {t: {f: K(k) for f, k in fs.items()} for t, fs in tables.items()}
    mapping = kw.pop("mapping", NO_MAPPING)
    return plan_views(list(tables), types, mapping, naming, **kw)  # type: ignore[arg-type]


def names(result: ViewsPlan) -> list[tuple[str, str, str]]:
    return [(v.ledger_table, v.view, v.history_view) for v in result.views]


def test_views_are_named_after_their_table_with_typed_columns() -> None:
    result = plan({"Person": {"Name": {IonKind.STRING}, "Age": {IonKind.INT, IonKind.NULL}}})
    assert names(result) == [("Person", "Person", "Person_history")]
    assert [(c.field, c.name, c.type) for c in result.views[0].columns] == [
        ("Age", "Age", ColumnType.BIGINT),
        ("Name", "Name", ColumnType.TEXT),
    ]


def test_sqlite_names_collide_case_insensitively_and_avoid_reserved_names() -> None:
    result = plan(
        {"person": {}, "Person": {}, "DOCUMENTS": {}, "sqlite_stat1": {}, "Person_history": {}}
    )
    views = {v.ledger_table: v for v in result.views}
    taken = [SQLITE.key(n) for v in result.views for n in (v.view, v.history_view)]
    assert len(taken) == len(set(taken)), "two views with one name"
    assert not any(SQLITE.is_reserved(n) for n in taken)
    assert views["Person"].view == "Person"
    assert views["person"].view == "person_2"
    assert views["Person_history"].view == "Person_history"
    assert views["Person"].history_view == "Person_history_2"
    assert views["DOCUMENTS"].view == "DOCUMENTS_2"
    assert views["sqlite_stat1"].view == "_sqlite_stat1"


def test_postgres_names_are_case_sensitive_and_long_names_stay_apart() -> None:
    long_a = "A" * 70 + "x"
    long_b = "A" * 70 + "y"
    result = plan({"Person": {}, "person": {}, long_a: {}, long_b: {}}, POSTGRES)
    views = {v.ledger_table: v for v in result.views}
    assert views["Person"].view == "Person" and views["person"].view == "person"
    for table in (long_a, long_b):
        for name in (views[table].view, views[table].history_view):
            assert len(name.encode()) <= 63
            assert "~" in name
    assert views[long_a].view != views[long_b].view


def test_a_long_multibyte_name_is_cut_at_a_character_boundary() -> None:
    name = "é" * 40  # 80 bytes
    short = POSTGRES.shorten(name)
    assert len(short.encode()) <= 63
    short.encode("utf-8")  # valid text: no half character


def test_field_columns_avoid_the_metadata_columns() -> None:
    result = plan({"T": {"version": {IonKind.INT}, "VERSION": {IonKind.STRING}, "x": set()}})
    columns = {c.field: c.name for c in result.views[0].columns}
    assert SQLITE.key(columns["version"]) not in {SQLITE.key(n) for n in HISTORY_COLUMNS}
    assert len({SQLITE.key(n) for n in columns.values()}) == 3


@pytest.mark.parametrize("bad", ["", "a\x00b", "\ud800"])
def test_names_that_cannot_be_identifiers_are_left_out_with_a_warning(bad: str) -> None:
    assert not representable(bad)
    result = plan({bad: {}, "T": {bad: {IonKind.INT}, "ok": {IonKind.INT}}})
    assert [v.ledger_table for v in result.views] == ["T"]
    assert [c.field for c in result.views[0].columns] == ["ok"]
    assert len(result.warnings) == 2


def test_fields_beyond_the_column_limit_are_left_out_with_a_warning() -> None:
    fields = {f"f{i:05d}": {IonKind.INT} for i in range(MAX_VIEW_COLUMNS + 5)}
    result = plan({"T": fields})
    assert len(result.views[0].columns) == MAX_VIEW_COLUMNS
    assert "5 fields beyond" in result.warnings[0]


def test_leave_out_and_mapping_skip_give_no_views() -> None:
    mapping = parse_mapping('{"tables": {"B": {"skip": true}}}', "m.json")
    result = plan({"A": {}, "B": {}, "C": {}}, leave_out={"A"}, mapping=mapping)
    assert [v.ledger_table for v in result.views] == ["C"]
    assert result.skipped_tables == ("A", "B")


def test_the_mapping_renames_retypes_and_skips() -> None:
    mapping = parse_mapping(
        """{"tables": {"Person": {"view": "people", "history_view": "people_log",
             "columns": {"FirstName": "first_name", "DOB": {"type": "text"},
                         "Secret": {"skip": true},
                         "Never": {"name": "never", "type": "bigint"}}}}}""",
        "m.json",
    )
    fields = {"FirstName": {IonKind.STRING}, "DOB": {IonKind.DATE}, "Secret": {IonKind.STRING}}
    result = plan({"Person": fields}, mapping=mapping)
    [view] = result.views
    assert (view.view, view.history_view) == ("people", "people_log")
    assert {c.field: (c.name, c.type) for c in view.columns} == {
        "DOB": ("DOB", ColumnType.TEXT),
        "FirstName": ("first_name", ColumnType.TEXT),
        "Never": ("never", ColumnType.BIGINT),
    }


def test_an_automatic_name_gives_way_to_a_mapped_one() -> None:
    mapping = parse_mapping('{"tables": {"A": {"view": "B"}}}', "m.json")
    result = plan({"A": {}, "B": {}}, mapping=mapping)
    views = {v.ledger_table: v.view for v in result.views}
    assert views == {"A": "B", "B": "B_2"}


@pytest.mark.parametrize(
    "mapping",
    [
        '{"tables": {"A": {"view": "documents"}}}',
        '{"tables": {"A": {"view": "x"}, "B": {"view": "X"}}}',
        '{"tables": {"A": {"columns": {"f": "version"}}}}',
        '{"tables": {"A": {"columns": {"f": "c", "g": "C"}}}}',
        '{"tables": {"A": {"view": "sqlite_mine"}}}',
    ],
)
def test_a_mapped_name_that_collides_is_a_config_error(mapping: str) -> None:
    with pytest.raises(ConfigError, match="already taken"):
        plan(
            {"A": {"f": {IonKind.INT}, "g": {IonKind.INT}}, "B": {}},
            mapping=parse_mapping(mapping, "m"),
        )


def test_a_mapped_name_too_long_for_postgres_is_a_config_error() -> None:
    mapping = parse_mapping('{"tables": {"A": {"view": "' + "v" * 64 + '"}}}', "m")
    with pytest.raises(ConfigError, match="at most 63 bytes"):
        plan({"A": {}}, POSTGRES, mapping=mapping)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a JSON mapping file"),
        ("[]", "expected a JSON object"),
        ('{"table": {}}', "unknown key 'table'"),
        ('{"tables": {"A": {"veiw": "x"}}}', "unknown key 'veiw'"),
        ('{"tables": {"A": {"view": ""}}}', "expected a name"),
        ('{"tables": {"A": {"view": 5}}}', "expected a name"),
        ('{"tables": {"A": {"skip": "yes"}}}', "expected true or false"),
        ('{"tables": {"A": {"columns": {"f": {"type": "varchar"}}}}}', "is not one of"),
        ('{"tables": {"A": {"columns": {"f": 3}}}}', "expected a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (" " * (10 * 1024 * 1024 + 1), "larger than"),
    ],
)
def test_mapping_mistakes_are_one_line_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_mapping(text, "m.json")
    assert "\n" not in str(caught.value) and str(caught.value).startswith("m.json")


names_strategy = st.text(st.sampled_from("aAbB_é\"' .$"), min_size=1, max_size=6)


@given(
    st.dictionaries(
        names_strategy,
        st.dictionaries(names_strategy, st.sets(st.sampled_from(list(IonKind))), max_size=4),
        max_size=6,
    ),
    st.randoms(),
)
def test_the_plan_does_not_depend_on_input_order(
    tables: dict[str, dict[str, set[IonKind]]], rng: object
) -> None:
    items = list(tables.items())
    rng.shuffle(items)  # type: ignore[attr-defined]
    shuffled = {t: dict(reversed(list(fs.items()))) for t, fs in items}
    for naming in (SQLITE, POSTGRES):
        first, second = plan(tables, naming), plan(shuffled, naming)
        assert first == second
        taken = [naming.key(n) for v in first.views for n in (v.view, v.history_view)]
        assert len(taken) == len(set(taken))
        for view in first.views:
            columns = [naming.key(c.name) for c in view.columns]
            assert len(columns) == len(set(columns))
            assert not set(columns) & {naming.key(n) for n in HISTORY_COLUMNS}
