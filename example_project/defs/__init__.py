"""Component definitions of the example code location (one folder a component, each with a defs.yaml)."""
