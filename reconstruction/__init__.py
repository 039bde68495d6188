"""Landmarks, the parametric face model and per-frame fitting: turns a video into a `Track`."""
