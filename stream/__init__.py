"""The stream engine: turns one batch of QLDB Streams Kinesis records into projection writes."""
