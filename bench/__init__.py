"""Benchmarks of the ledger against a real Azurite: round trips, throughput against baselines, cold start.

Run with ``make bench`` (``python -m bench.run``). Results are ratios and counts measured side by side in
one run; ``docs/performance.md`` explains how to read the table.
"""
