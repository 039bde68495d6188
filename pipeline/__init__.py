"""The jobs and their stages (track, train, evaluate, render, reenact, edit), the one job runner, transfer,
editing, synthesis and compositing into the shot, the eye stage, and the `dvp` command line."""
