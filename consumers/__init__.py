"""Entry points only: the command line, the Lambda handlers and the KCL processor.

They parse flags and read the environment (``consumers.settings``), then hand typed
configuration to the engines below them (``replay``, ``stream``). The one other reader of the
environment is ``runtime.decode_watch``, which a supervised child uses to find its watch folder.
"""
