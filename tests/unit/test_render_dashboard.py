"""deploy/render_dashboard.py: the README's dashboard picture is drawn from template.yaml and
kept up to date (``--check`` compares the committed SVG byte for byte with a fresh rendering)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.deploy_scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
PICTURE = ROOT / "docs" / "dashboard.svg"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def renderer() -> ModuleType:
    return load_script(ROOT / "deploy" / "render_dashboard.py")


def test_the_committed_picture_is_up_to_date(
    renderer: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    status = renderer.main(["--check"])
    assert status == 0, capsys.readouterr().err


def test_every_widget_title_and_metric_label_is_in_the_picture(renderer: ModuleType) -> None:
    name, body = renderer.dashboard_body(TEMPLATE)
    texts = [
        "".join(element.itertext())
        for element in ET.fromstring(PICTURE.read_text(encoding="utf-8")).iter(f"{SVG}text")
    ]
    assert f"CloudWatch dashboard {name}" in texts
    assert len(body["widgets"]) == 17
    for widget in body["widgets"]:
        props = widget["properties"]
        if "title" in props:
            assert props["title"] in texts
        for metric in props.get("metrics", []):
            label = metric[-1]["label"]
            assert any(
                text == label or (text.endswith("…") and label.startswith(text[:-1]))
                for text in texts
            ), label
        for arn in props.get("alarms", []):
            assert arn.removesuffix(".Arn") in texts
    # every projection's row is drawn (the picture shows all of them enabled)
    for projection in ("DynamoDB", "S3", "OpenSearch", "PostgreSQL"):
        assert f"{projection} projection: revisions" in texts


def test_a_stale_picture_fails_the_check_with_one_line(
    renderer: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "dashboard.svg"
    stale.write_text(
        PICTURE.read_text(encoding="utf-8").replace(escape("Kinesis change stream"), "Kinesis"),
        encoding="utf-8",
    )

    assert renderer.main(["--check", "--output", str(stale)]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "out of date" in err
    assert "render_dashboard.py" in err


def test_a_template_without_the_dashboard_is_a_user_error(
    renderer: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        TEMPLATE.read_text(encoding="utf-8").replace("OperationsDashboard", "Board"),
        encoding="utf-8",
    )

    assert renderer.main(["--template", str(template), "--output", str(tmp_path / "x.svg")]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "has no OperationsDashboard resource" in err
    assert not (tmp_path / "x.svg").exists()


def test_rendering_is_deterministic(renderer: ModuleType) -> None:
    name, body = renderer.dashboard_body(TEMPLATE)
    assert renderer.render(name, body) == renderer.render(name, body)
    assert renderer.render(name, body) == PICTURE.read_text(encoding="utf-8")
