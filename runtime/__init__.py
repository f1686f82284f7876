"""Process-wide runtime state: signals (Ctrl-C, SIGTERM) and the decode watch of a
supervised child.
"""
