"""The safe YAML reader: bounded expansion and depth, names as keys, no duplicates, safe types only."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ghe_backup.delivery.config import yamlfile
from ghe_backup.delivery.config.yamlfile import MAX_DEPTH, MAX_NODES, load_yaml, parse_yaml
from ghe_backup.errors import ConfigError, ExitCode

WHERE = Path("x.yaml")
REPO = Path(__file__).resolve().parents[3]


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, WHERE, **kwargs)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    return str(info.value)


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_lines_of_keys_including_entries_of_keyed_lists():
    doc = parse_yaml("a:\n  b: 1\nlist:\n  - One:\n      c: 2\n", WHERE)
    assert doc.data == {"a": {"b": 1}, "list": [{"One": {"c": 2}}]}
    assert doc.line_of(("a", "b")) == 2 and doc.line_of(("list", "One", "c")) == 5
    assert doc.line_of(("a", "nope")) == 1  # the nearest ancestor


def test_an_alias_bomb_is_refused_at_once():
    started = time.monotonic()
    assert error_of(billion_laughs()) == (
        f"x.yaml:5: expands to more than {MAX_NODES} values (aliases used many times over) "
        "(use fewer aliases; config files hold a few hundred values)"
    )
    assert time.monotonic() - started < 1


def test_a_few_aliases_are_fine():
    doc = parse_yaml("base: &b {x: 1}\none: *b\ntwo: {<<: *b, y: 2}\n", WHERE)
    assert doc.data["one"] == {"x": 1} and doc.data["two"] == {"x": 1, "y": 2}


def test_deep_nesting_is_refused_not_a_recursion_error():
    assert error_of("a: " + "[" * 100_000 + "]" * 100_000) == (
        f"x.yaml:1: nested more than {MAX_DEPTH} levels deep (config files are a few levels deep)"
    )
    nested = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5))
    assert error_of(nested).startswith(f"x.yaml:{MAX_DEPTH}: nested more than {MAX_DEPTH} levels deep")


def test_depth_through_aliases_counts():
    text = "a0: &a0 [[[[[[[[[[1]]]]]]]]]]\n" + "".join(f"a{i}: &a{i} [[[*a{i - 1}]]]\n" for i in range(1, 20))
    assert "nested more than 32 levels deep (through aliases)" in error_of(text)


def test_a_recursive_alias_is_refused():
    assert error_of("a: &a [*a]\n") == (
        "x.yaml:1: an alias refers to a value that contains it (recursive structures are not config)"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("true: 1\n", 'x.yaml:1: key true is a boolean, not a name (quote it ("true":) if it is meant as a name)'),
        ("1: x\n", 'x.yaml:1: key 1 is a number, not a name (quote it ("1":) if it is meant as a name)'),
        ("a:\n  1.5: x\n", 'x.yaml:2: a: key 1.5 is a number, not a name (quote it ("1.5":) if it is meant as a name)'),
        ("~: x\n", 'x.yaml:1: key ~ is empty (null), not a name (quote it ("~":) if it is meant as a name)'),
        (
            "2024-01-01: x\n",
            'x.yaml:1: key 2024-01-01 is a date, not a name (quote it ("2024-01-01":) if it is meant as a name)',
        ),
        ("? [a, b]\n: 1\n", "x.yaml:1: a key is a list, not a name (keys are plain names; a '?' starts a complex key)"),
        (
            "? {a: 1}\n: 1\n",
            "x.yaml:1: a key is a mapping, not a name (keys are plain names; a '?' starts a complex key)",
        ),
    ],
)
def test_keys_must_be_names(text, message):
    assert error_of(text) == message


def test_number_keys_only_where_the_caller_allows_them():
    assert parse_yaml("ports:\n  8080: 8080\n", WHERE, number_keys_under={"ports"}).data == {"ports": {8080: 8080}}
    assert error_of("env:\n  8080: 8080\n", number_keys_under={"ports"}).startswith(
        "x.yaml:2: env: key 8080 is a number"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: 1\nb: 2\na: 3\n", "x.yaml:3: a: duplicate key (first given on line 1)"),
        ("p:\n  x: 1\n  x: 1\n", "x.yaml:3: p.x: duplicate key (first given on line 2)"),
        ("ports:\n  8080: 1\n  0x1F90: 2\n", "x.yaml:3: ports.0x1F90: duplicate key (first given on line 2)"),
    ],
)
def test_duplicate_keys_are_errors(text, message):
    assert error_of(text, number_keys_under={"ports"}) == (
        f"{message} (remove one of them; YAML would silently keep the last)"
    )


def test_the_same_name_in_different_mappings_is_fine():
    assert parse_yaml("a: {x: 1}\nb: {x: 1}\n", WHERE).data == {"a": {"x": 1}, "b": {"x": 1}}


def test_tags_that_construct_objects_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    assert error_of(f'a: !!python/object/apply:os.system ["touch {marker}"]\n') == (
        "x.yaml:1: YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed "
        "(config may only hold plain mappings, lists, strings, numbers and booleans)"
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "a:\n\tb: 1\n",
            "x.yaml:2: malformed YAML: found character '\\t' that cannot start any token (indent with spaces, not tabs)",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "x.yaml:2: malformed YAML: a second YAML document ('---'); a config file holds one (fix the YAML syntax)",
        ),
        ("a: 1\nb: \x07\n", "x.yaml:2: control character #x0007 is not allowed in YAML (remove it)"),
        ("a: *nope\n", "x.yaml:1: malformed YAML: found undefined alias 'nope' (fix the YAML syntax)"),
    ],
)
def test_malformed_text_names_the_line(text, message):
    assert error_of(text) == message


def test_empty_and_comment_only_files_have_no_document(tmp_path):
    (tmp_path / "a.yaml").write_text("# nothing here\n")
    assert load_yaml(tmp_path / "a.yaml").empty
    assert parse_yaml("", WHERE).data is None


def test_load_yaml_refuses_what_is_not_a_regular_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="a.yaml: is a character device, not a file"):
        load_yaml(tmp_path / "a.yaml")


def test_a_text_is_parsed_once_and_each_caller_gets_its_own_copy(tmp_path, monkeypatch):
    made = []
    original = yamlfile._document
    monkeypatch.setattr(yamlfile, "_document", lambda *a: made.append(a) or original(*a))
    text = "pipeline:\n  region: eu-central-1\n  ports: [1, 2]\n"
    first = yamlfile.parse_yaml(text, tmp_path / "a.yaml")
    first.data["pipeline"]["ports"].append(3)
    second = yamlfile.parse_yaml(text, tmp_path / "b.yaml")
    assert second.data == {"pipeline": {"region": "eu-central-1", "ports": [1, 2]}} and len(made) == 1
    assert second.path == tmp_path / "b.yaml" and second.line_of(("pipeline", "region")) == 2


def test_a_bad_text_names_its_own_file_every_time(tmp_path):
    from ghe_backup.delivery.config import yamlfile

    for name in ("one.yaml", "two.yaml"):
        with pytest.raises(ConfigError, match=f"{name}:2: "):
            yamlfile.parse_yaml("a: 1\na: 2\n", tmp_path / name)


YAML_FILES = sorted(
    path
    for folder in ("config", "senza", "tests/data/tree", ".github/workflows")
    for path in (REPO / folder).rglob("*.y*ml")
)


@pytest.mark.skipif(yamlfile._FastLoader is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_libyaml_events_compose_what_the_pure_python_loader_composes(path):
    text = path.read_text(encoding="utf-8")
    where = str(path)

    def parsed(loader):  # the document, or what our checks found wrong with it
        try:
            document = yamlfile._document(loader, path, frozenset({"ports"}))
        except ConfigError as err:
            return str(err)
        finally:
            loader.dispose()
        return document.data, document.lines

    assert parsed(yamlfile._FastLoader(text, where)) == parsed(yamlfile._Loader(text, where))


@pytest.mark.skipif(yamlfile._FastLoader is None, reason="PyYAML without libyaml")
def test_good_text_never_needs_the_pure_python_loader(monkeypatch, tmp_path):
    monkeypatch.setattr(yamlfile, "_Loader", None)  # calling it would fail the test
    text = (REPO / "tests/data/tree/senza/ghe-backup.yaml").read_text(encoding="utf-8") + "\n# fresh\n"
    assert yamlfile.parse_yaml(text, tmp_path / "a.yaml", number_keys_under=["ports"]).data["SenzaInfo"]


def test_copies_share_nothing_with_the_remembered_document(tmp_path):
    text = "a: &x {b: [1, {c: 2}]}\nd: *x\nwhen: 2026-01-05\nset: !!set {k}\n"
    first = yamlfile.parse_yaml(text, tmp_path / "a.yaml").data
    first["a"]["b"][1]["c"] = 3
    first["set"].add("z")
    again = yamlfile.parse_yaml(text, tmp_path / "a.yaml").data
    assert again["a"] == again["d"] == {"b": [1, {"c": 2}]} and again["set"] == {"k"}
    assert again["when"].isoformat() == "2026-01-05"


@pytest.mark.skipif(yamlfile._FastLoader is None, reason="PyYAML without libyaml")
def test_mangled_files_read_the_same_with_and_without_libyaml(monkeypatch):
    """Seeded edits of the fixture tree (YAML's punctuation, tabs, marks, cuts, repeats): the same
    document or the same message, whichever loader reads it first."""
    import random

    pieces = [*":-{}[]&*!|>'\"#\t\n ,?%@`\\\ufeff\x85\u2028", "---", "<<: ", "!!set ", "&a ", "*a", "yes", "0x1F"]
    texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "tests/data/tree").rglob("*.yaml"))]
    pick = random.Random(20261127)

    def outcome(text):
        try:
            document = yamlfile._parse_yaml(text, WHERE, frozenset({"ports"}))
        except ConfigError as err:
            return str(err)
        return document.data, document.lines

    fast = yamlfile._FastLoader
    for _ in range(120):
        text = pick.choice(texts)
        for _ in range(pick.randint(1, 3)):
            at = pick.randrange(len(text) + 1)
            if pick.random() < 0.5:
                text = text[:at] + pick.choice(pieces) + text[at:]
            else:
                text = text[:at] + text[at + pick.randint(1, 5) :]
        with_libyaml = outcome(text)
        monkeypatch.setattr(yamlfile, "_FastLoader", None)
        assert with_libyaml == outcome(text), text
        monkeypatch.setattr(yamlfile, "_FastLoader", fast)
