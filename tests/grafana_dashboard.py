"""Reading deploy/grafana/novu-failover.json the way Grafana does: every panel (rows
included), every PromQL query with whether it runs as a range or an instant query, the
template variables, and the substitution of Grafana's variables with concrete values."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "novu-failover.json"

# What Grafana puts in place of its variables; `.*` is the "All" value of our variables.
SUBSTITUTIONS = {
    "${datasource}": "prometheus",
    "$environment": ".*",
    "$channel": ".*",
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
}


@dataclass(frozen=True)
class Query:
    where: str
    expr: str
    instant: bool


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every PromQL expression: panel targets, annotations and variable queries."""
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            found.append(
                Query(
                    where=f"panel {panel['title']!r} target {target['refId']}",
                    expr=target["expr"],
                    instant=bool(target.get("instant")) and not target.get("range"),
                )
            )
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            found.append(Query(f"annotation {annotation['name']!r}", annotation["expr"], False))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found.append(
                Query(
                    f"variable {variable['name']}",
                    label_values_selector(variable["query"]["query"]),
                    True,
                )
            )
    return found


def label_values_selector(query: str) -> str:
    """`label_values(metric{...}, label)` as the series selector Grafana asks about."""
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
    assert match, f"not a label_values query: {query}"
    return match.group(1)


def substitute(expr: str) -> str:
    for name, value in sorted(SUBSTITUTIONS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value).replace("${" + name[1:] + "}", value)
    assert "$" not in expr, f"unknown variable left in {expr}"
    return expr


def metric_names(dashboard: dict[str, Any]) -> set[str]:
    return {
        name
        for query in queries(dashboard)
        for name in re.findall(r"\b(novu_failover_[a-z_]+)", query.expr)
    }
