"""Operations: the memory watchdog, the session reaper and the metrics they and the API report.

Import the submodules directly (`from waengine.ops import metrics`): this package imports
nothing itself. Ops watches the engine through the `Engine` object it is given (wiring.py) and
imports no module of `engine/`; the engine counts into waengine/counters.py, not into ops.
"""
