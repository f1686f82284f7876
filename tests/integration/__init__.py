"""Tests against real servers: moto, PostgreSQL and the local OpenSearch fake."""
