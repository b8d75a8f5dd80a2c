"""Operations: the memory watchdog, the session reaper and the metrics they and the API report.

Import the submodules directly (`from waengine.ops import metrics`): this package imports
nothing itself, so the engine can count into `metrics` without an import cycle.
"""
