"""Scoring configs; `default.yaml` is installed as package data `abmq.configs`."""
