"""History: which past jobs a ListJobs call asks for (JobFilter), and the columns the index derives from a job's
task so that the filters run in SQL on both engines (docs/api.md "ListJobs").

`search_text` is the lowercased prompt, negative prompt(s) and label, so a case-insensitive substring search is a
LIKE on one column in SQLite and PostgreSQL alike; `task_kind` tells txt2img, img2img and inpaint apart within
the "generate" task type. Old databases get both filled in when they are opened (`backfill`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

PROMPT_KEYS = ("prompt", "negative_prompt")
# Generate tasks by their inputs; other task types are their own kind.
GENERATE_KINDS = (("mask_image", "inpaint"), ("init_image", "img2img"))


@dataclass(frozen=True)
class JobFilter:
    """All that are set must hold. kinds: task kinds ("txt2img", "img2img", "inpaint", "depth2img", ...)."""

    client: str = ""
    kinds: tuple[str, ...] = ()
    created_after_ms: int = 0
    created_before_ms: int = 0
    text: str = ""
    model_id: str = ""


def _prompts(value, out: list[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in PROMPT_KEYS and isinstance(item, str):
                out.append(item)
            else:
                _prompts(item, out)
    elif isinstance(value, list):
        for item in value:
            _prompts(item, out)


def _task(task_json: str) -> dict:
    try:
        task = json.loads(task_json) if task_json else {}
    except ValueError:
        return {}
    return task if isinstance(task, dict) else {}


def search_text(task_json: str, label: str) -> str:
    """What a text filter searches: every prompt and negative prompt of the task, and the label, lowercased."""
    texts: list[str] = []
    _prompts(_task(task_json), texts)
    return "\n".join([*texts, label or ""]).lower()


def task_kind(task_json: str, task_type: str) -> str:
    if task_type != "generate":
        return task_type
    generate = _task(task_json).get("generate") or {}
    for key, kind in GENERATE_KINDS:
        if key in generate:
            return kind
    return "txt2img"


def derived_columns(row: dict) -> dict:
    """The row with search_text and task_kind filled in from its task (an insert's row)."""
    extra = {}
    if "task_json" in row and "search_text" not in row:
        extra["search_text"] = search_text(row["task_json"], row.get("label", ""))
    if "task_json" in row and "task_kind" not in row:
        extra["task_kind"] = task_kind(row["task_json"], row.get("task_type", ""))
    return {**row, **extra} if extra else row


def like_pattern(text: str) -> str:
    """A LIKE pattern matching text anywhere (escape character: backslash)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def where_clause(states: list[str] | None, where: JobFilter | None) -> tuple[str, list]:
    """SQL conditions (with ? marks) and their parameters; "" when nothing is filtered."""
    conditions: list[str] = []
    params: list = []
    if states:
        conditions.append(f"state IN ({', '.join('?' for _ in states)})")
        params += states
    if where is not None:
        if where.client:
            conditions.append("client = ?")
            params.append(where.client)
        if where.kinds:
            conditions.append(f"task_kind IN ({', '.join('?' for _ in where.kinds)})")
            params += list(where.kinds)
        if where.created_after_ms:
            conditions.append("created_ms >= ?")
            params.append(where.created_after_ms)
        if where.created_before_ms:
            conditions.append("created_ms < ?")
            params.append(where.created_before_ms)
        if where.model_id:
            conditions.append("model_id = ?")
            params.append(where.model_id)
        if where.text:
            conditions.append("search_text LIKE ? ESCAPE '\\'")
            params.append(like_pattern(where.text))
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", params
