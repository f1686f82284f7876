"""Run the stream handler the way Lambda does, in a fresh process, and print its EMF lines.

Usage (what ``test_dashboard_metrics.py`` runs, with a projection function's environment from
template.yaml)::

    python -m tests.functional.dashboard_emf_driver <sqlite database path>

The module imports ``consumers.lambda_handler`` only after the environment is in place, as the
Lambda runtime does, so powertools reads ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` from it. Two invocations:

1. a batch of synthetic REVISION_DETAILS records (a tombstone and a redaction among them) into a
   SQLite projection: every batch metric;
2. after ``reset()``, an invocation whose ``CDC_TARGETS`` is not a target URI: the configuration
   error that makes ``handler`` raise, so ``BatchErrors`` is published too.

stdout carries the handler's own output (EMF documents and JSON log lines); the driver prints
nothing else there. Exit status 0 when both invocations behaved as described.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.support.lambda_context import lambda_context
from tests.support.synthetic_stream import Rev, lambda_record, outer, revision_details

REVISIONS = (
    Rev("alice", 0, data={"n": 0}),
    Rev("alice", 1, data={"n": 1}),
    Rev("bob", 0, data={"n": 0}),
    Rev("bob", 1),  # delete: a tombstone
    Rev("carol", 0, redacted=True),
)


def main(argv: list[str]) -> int:
    """Both invocations; the return value is the exit status."""
    from consumers import lambda_handler  # after the environment is set, as in Lambda
    from core.errors import ConfigError

    os.environ["CDC_TARGETS"] = f"sqlite:{Path(argv[0]).resolve()}"
    records = [
        lambda_record(outer(revision_details(rev), seq)) for seq, rev in enumerate(REVISIONS, 1)
    ]
    response = lambda_handler.handler({"Records": records}, lambda_context())
    if response != {"batchItemFailures": []}:
        print(f"unexpected response {response}", file=sys.stderr)
        return 1

    lambda_handler.reset()
    os.environ["CDC_TARGETS"] = "not-a-target://"
    try:
        lambda_handler.handler({"Records": records}, lambda_context())
    except ConfigError:
        return 0
    print("the misconfigured invocation did not raise ConfigError", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
