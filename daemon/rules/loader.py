"""Load rules.yaml into `Rules`, or fail with every problem at once, each with its line.

    rules.yaml:14 channels[0].candidates[1].signals[0].http.timeout: timeout (40s) must be
    shorter than interval (30s)

Order of work: size, YAML (syntax, limits, duplicate keys), `defaults` (so signals inherit
validated timing), the schema, then the cross-field checks. All problems are gathered
before raising. For any input at all, `load_rules` raises RulesError or OSError and nothing
else (tests/test_rules_fuzz.py holds it to that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from daemon.rules.crosscheck import cross_check
from daemon.rules.model import Defaults, Environment, Rules
from daemon.rules.problems import RuleProblem, RulesError, findings_from_errors
from daemon.rules.source import (
    Finding,
    Locator,
    YamlLimitError,
    YamlSyntaxError,
    format_path,
    read_yaml,
)

__all__ = ["MAX_RULES_BYTES", "RuleProblem", "RulesError", "load_rules", "parse_rules"]

MAX_RULES_BYTES = 8 * 1024 * 1024
"""Large enough for a thousand channels written out in block style; a bigger file is
refused before it is parsed (docs/rules.md, "Limits")."""


def load_rules(path: Path) -> Rules:
    """The rules in the file at `path`; relative `api_key_file`s resolve against its folder.

    Blocking (it reads and parses): the running daemon calls it in a worker thread.
    """
    name = str(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_RULES_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        problem = RuleProblem(name, None, "", f"cannot read the rules file: {reason}")
        raise RulesError([problem]) from exc
    if len(raw) > MAX_RULES_BYTES:
        msg = f"the file is larger than {MAX_RULES_BYTES // 1024 // 1024} MiB"
        raise RulesError([RuleProblem(name, None, "", msg)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        msg = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        raise RulesError([RuleProblem(name, line, "", msg)]) from None
    return parse_rules(text, filename=name, base_dir=path.parent)


def parse_rules(text: str, *, filename: str, base_dir: Path | None = None) -> Rules:
    """The rules in `text` (named `filename` in errors); raises RulesError with every problem.

    With `base_dir`, a relative `api_key_file` becomes `base_dir / api_key_file`.
    """
    if len(text) > MAX_RULES_BYTES:
        msg = f"the text is longer than {MAX_RULES_BYTES} characters; rules files are small"
        raise RulesError([RuleProblem(filename, None, "", msg)])
    try:
        document = read_yaml(text)
    except YamlSyntaxError as exc:
        raise RulesError([RuleProblem(filename, exc.line, "", exc.message)]) from exc
    except YamlLimitError as exc:
        problems = _problems(exc.findings, filename=filename, locator=Locator(None))
        raise RulesError(problems) from exc
    locator = Locator(document.root)
    data = document.data
    if document.root is None:
        msg = "the file is empty; it needs environments and channels"
        raise RulesError([RuleProblem(filename, None, "", msg)])
    if not isinstance(data, dict):
        msg = f"the top level must be a mapping with environments and channels; got {_kind(data)}"
        raise RulesError([RuleProblem(filename, locator.line(()), "", msg)])

    findings = list(document.duplicates)
    defaults = _defaults(data.get("defaults", {}))
    rules: Rules | None = None
    cause: ValidationError | None = None
    try:
        rules = Rules.model_validate(data, context={"defaults": defaults})
    except ValidationError as exc:
        cause = exc
        findings.extend(findings_from_errors(exc.errors(), data))
    findings.extend(cross_check(data, defaults=defaults, locator=locator))
    if findings or rules is None:
        raise RulesError(_problems(findings, filename=filename, locator=locator)) from cause
    return _resolve_key_files(rules, base_dir) if base_dir is not None else rules


def _defaults(raw: Any) -> Defaults:
    """The validated `defaults`; when invalid (reported anyway), each field that is valid on
    its own, so signals are judged against the timing the file actually wrote."""
    try:
        return Defaults.model_validate(raw)
    except ValidationError:
        pass
    fields: dict[str, Any] = {}
    for name, info in Defaults.model_fields.items():
        if isinstance(raw, dict) and name in raw:
            field_type: Any = Annotated[info.annotation, info]
            try:
                fields[name] = TypeAdapter(field_type).validate_python(raw[name])
            except ValidationError:
                continue
    return Defaults.model_construct(**fields)


def _problems(findings: list[Finding], *, filename: str, locator: Locator) -> list[RuleProblem]:
    problems: list[RuleProblem] = []
    for finding in findings:
        line = finding.line if finding.line is not None else locator.line(finding.parts)
        problem = RuleProblem(filename, line, format_path(finding.parts), finding.message)
        if problem not in problems:
            problems.append(problem)
    problems.sort(key=lambda problem: problem.line or 0)
    return problems


def _resolve_key_files(rules: Rules, base_dir: Path) -> Rules:
    environments: dict[str, Environment] = {}
    for name, env in rules.environments.items():
        key_file = env.api_key_file
        if key_file is not None and not key_file.expanduser().is_absolute():
            environments[name] = env.model_copy(update={"api_key_file": base_dir / key_file})
        else:
            environments[name] = env
    return rules.model_copy(update={"environments": environments})


def _kind(data: Any) -> str:
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return f"the text {data[:40]!r}"
    return f"{data!r}"
