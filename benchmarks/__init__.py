"""The benchmark (issue 7): what the service costs and how it scales, beside a cron-script baseline.

``python -m benchmarks`` (``make bench``) runs the real pipeline — store, composer, dispatcher,
adapters through their client libraries, HTTP to the loopback fakes of ``tests/fakes`` — and prints a
table of figures, each with the command that produced it. It reports; it never fails on a slow machine.
Run it from the repository root (it imports the fakes from ``tests/``). See docs/performance.md.

Modules: ``farm`` (the fakes in a child process), ``pipeline`` (settings, posts, bulk queues, the daemon
process), ``baseline`` (the cron script), ``scenarios`` / ``daemon_scenarios`` (the measurements),
``report`` (sizes, rows, the table).
"""
