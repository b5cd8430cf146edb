"""Malformed prediction files given to tools/visualize_json_results.py end in a clear error."""

import json

import pytest
from tools_testutil import load_tool

EXPECTED = "expected a JSON list of COCO result dicts with image_id, category_id, bbox, score"


def _main(tmp_path, text):
    path = tmp_path / "coco_instances_results.json"
    path.write_text(text)
    tool = load_tool("visualize_json_results")
    args = ["--input", str(path), "--dataset", "unused", "--output", str(tmp_path / "out")]
    return tool.main(args), str(path)


def test_malformed_json_names_file_position_and_expectation(tmp_path, capsys):
    # Line 3 is '  "score": 0.5,,': the second comma (column 16) is where a key must start.
    code, path = _main(tmp_path, '[\n  {"image_id": 1,\n  "score": 0.5,,\n]')
    err = capsys.readouterr().err
    assert code == 2
    assert f"'{path}' is not valid JSON" in err
    assert "Expecting property name enclosed in double quotes at line 3 column 16" in err
    assert EXPECTED in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "content, message",
    [
        ({"image_id": 1}, "holds a JSON dict"),
        (
            [
                {"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.5},
                {"image_id": 1},
            ],
            "entry 1 lacks category_id, bbox, score (got ['image_id'])",
        ),
        ([[1, 2]], "entry 0 lacks image_id, category_id, bbox, score (got list)"),
    ],
)
def test_wrong_structure_is_refused(tmp_path, capsys, content, message):
    code, path = _main(tmp_path, json.dumps(content))
    err = capsys.readouterr().err
    assert code == 2
    assert path in err and message in err and "expected a JSON list" in err
