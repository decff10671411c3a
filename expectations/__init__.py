"""The data contracts (GX suites, one JSON file per source), installed as package data `abmq.expectations`."""
