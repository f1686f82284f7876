"""Composition roots: the CLI, the replay job, the Lambda handler and the KCL processor.

Only this package reads the environment, parses flags and builds clients.
"""
