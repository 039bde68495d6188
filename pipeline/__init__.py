"""Video and audio I/O, parameter transfer, editing, dubbing, compositing, provenance and the `dvp` CLI."""
