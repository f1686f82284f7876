"""A Lambda context object as the Python runtime passes it, for calling handlers in process."""

from __future__ import annotations

import uuid

from aws_lambda_powertools.utilities.typing import LambdaContext

FUNCTION_NAME = "qldb-cdc-stream-test"
FUNCTION_ARN = f"arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION_NAME}"


def lambda_context(request_id: str | None = None) -> LambdaContext:
    """A context for one invocation, with its own request id unless one is given.

    powertools' ``LambdaContext`` is the typed shape of the runtime's object; its properties read
    these attributes (``build_lambda_context_model`` reads the function name, memory size, ARN
    and request id; the cold-start metric the function name).
    """
    context = LambdaContext()
    context._function_name = FUNCTION_NAME
    context._function_version = "$LATEST"
    context._invoked_function_arn = (
        f"arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION_NAME}"
    )
    context._memory_limit_in_mb = 512
    context._aws_request_id = request_id or str(uuid.uuid4())
    context._log_group_name = f"/aws/lambda/{FUNCTION_NAME}"
    context._log_stream_name = "2026/12/04/[$LATEST]0123456789abcdef"
    return context
