"""Sessions and their browsers: manager, session worker, browser process, in-page bridge.

This package imports nothing itself: `waengine.wiring.Engine` assembles it with the store,
events and ops, which may import from here without an import cycle.
"""
