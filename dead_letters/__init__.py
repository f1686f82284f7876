"""Dead-letter sinks: where poison input goes, with its raw bytes and the reason."""
