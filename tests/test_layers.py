"""The layers of pyproject.toml's import-linter contract hold in one more way than imports
show: only the I/O layer writes files. Every other module hands values to it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The I/O layer, and the sample generator (it writes the sample exports, nothing else).
WRITERS = {
    "tasks/catalog.py",
    "tasks/event_store.py",
    "tasks/source_store.py",
    "tasks/object_store.py",
    "tasks/data_docs.py",
    "abmq/sample_data.py",
}
WRITING_METHODS = {
    "write_parquet",
    "write_csv",
    "write_text",
    "write_bytes",
    "write_json",
    "write_ipc",
    "sink_parquet",
    "sink_csv",
    "mkdir",
    "unlink",
    "rmdir",
    "touch",
    "symlink_to",
    "hardlink_to",
}
WRITING_FUNCTIONS = {
    ("os", "replace"),
    ("os", "rename"),
    ("os", "remove"),
    ("os", "unlink"),
    ("os", "makedirs"),
    ("shutil", "rmtree"),
    ("shutil", "move"),
    ("shutil", "copy"),
    ("shutil", "copytree"),
}


def modules() -> list[Path]:
    return sorted(p for folder in ("abmq", "tasks", "flows") for p in (ROOT / folder).glob("*.py"))


def file_writes(path: Path) -> list[str]:
    """`line: call` for every call in `path` that writes to the file system."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
                if isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax+"):
                    found.append(f"{node.lineno}: open(..., {mode.value!r})")
            continue
        name, receiver = node.func.attr, node.func.value
        if name in ("write_csv", "write_json") and not node.args and not node.keywords:
            continue  # returns the text, writes nothing
        if name == "write_csv" and not node.args and all(k.arg != "file" for k in node.keywords):
            continue
        if isinstance(receiver, ast.Name) and receiver.id == "outputs":
            continue  # catalog.RunOutputs: the I/O layer's staging folder
        if name in WRITING_METHODS or (isinstance(receiver, ast.Name) and (receiver.id, name) in WRITING_FUNCTIONS):
            found.append(f"{node.lineno}: {ast.unparse(node.func)}(...)")
        if name == "open" and node.args and isinstance(node.args[0], ast.Constant) and set(str(node.args[0].value)) & set("wax+"):
            found.append(f"{node.lineno}: {ast.unparse(node.func)}({node.args[0].value!r})")
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_io_layer_writes_files(path):
    relative = str(path.relative_to(ROOT))
    if relative in WRITERS:
        return
    assert file_writes(path) == [], f"{relative} writes files; hand the values to tasks/catalog.py instead"


def test_the_check_finds_writes(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, shutil\n"
        "def f(frame, path, outputs):\n"
        "    frame.write_parquet(path)\n"
        "    text = frame.write_csv()\n"
        "    os.replace(path, path)\n"
        "    shutil.rmtree(path)\n"
        "    open(path, 'w')\n"
        "    outputs.write_text('a', 'b')\n"
        "    path.open('a')\n"
        "    'x'.replace('a', 'b')\n"
    )
    assert file_writes(sample) == [
        "3: frame.write_parquet(...)",
        "5: os.replace(...)",
        "6: shutil.rmtree(...)",
        "7: open(..., 'w')",
        "9: path.open('a')",
    ]


def test_no_step_is_called_through_task_fn():
    """Tasks are thin wrappers; nothing calls a task's body through `.fn`."""
    for path in modules():
        assert ".fn(" not in path.read_text(encoding="utf-8"), path
