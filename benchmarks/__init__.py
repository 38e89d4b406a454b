"""The benchmarks, run from the repository root as ``python -m benchmarks[.NAME]``.

Run as modules (not as scripts) so that they import the suite's harness, ``tests.support``,
the same way the tests do: one way to make a database, an instrument or a broker.
"""
