"""Scenario files: schema, loading, references, provenance, limits.

The schema is imported first, whichever module is asked for: :mod:`sim.scenario.markets`
uses its duration types and the schema's ``Scenario`` uses the markets' tables.
"""

from sim.scenario import schema as _schema  # noqa: F401 - import order, see above
