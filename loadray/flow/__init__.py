"""Pure building blocks of multi-step flows: templates, extraction, checks, retries,
data feeders. No networking, no clock, no Ray: the flow runner composes these.

Every ``compile_*`` runs once at validation and raises
:class:`loadray.errors.ScenarioError` naming the YAML path; the compiled objects are
cheap to apply per request.
"""

from loadray.flow.checks import Check, compile_checks, evaluate
from loadray.flow.extract import Extractor, compile_extractor, compile_extractors, extract_all
from loadray.flow.feeders import (
    Feeder,
    FeederSpec,
    compile_feeder,
    load_rows,
    open_feeder,
    partition,
    row_vars,
)
from loadray.flow.json_templates import JsonTemplate, compile_json, render_json, template_leaves
from loadray.flow.response import Response
from loadray.flow.retry import (
    NO_RETRY,
    RetryPolicy,
    backoff_s,
    compile_retry,
    should_retry,
)
from loadray.flow.templates import BUILTINS, MissingVariable, Template, compile_template

__all__ = [
    "BUILTINS",
    "NO_RETRY",
    "Check",
    "Extractor",
    "Feeder",
    "FeederSpec",
    "JsonTemplate",
    "MissingVariable",
    "Response",
    "RetryPolicy",
    "Template",
    "backoff_s",
    "compile_checks",
    "compile_extractor",
    "compile_extractors",
    "compile_feeder",
    "compile_json",
    "compile_retry",
    "compile_template",
    "evaluate",
    "extract_all",
    "load_rows",
    "open_feeder",
    "partition",
    "render_json",
    "row_vars",
    "should_retry",
    "template_leaves",
]
