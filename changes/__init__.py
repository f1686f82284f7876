"""The change model: one QLDB document revision as the projections see it. Pure, no I/O."""
