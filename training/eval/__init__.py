"""Evaluation: metrics (pure), the harness over the real engine, reports, and the `evlm-eval` CLI."""
