"""Adapters from the bundle's components to the engine, one module per group.

Each module exports ``ADAPTERS: dict[str, Callable[[Bundle, Case], Mapping[str, Any]]]``: for a manifest
component, a function that runs the engine on ``case``'s inputs and returns its outputs keyed by the manifest's
output names (tensors on the CPU in the manifest's dtype, or plain Python values). Build networks once with
``bundle.cached(key, factory)``.
"""
