"""Cameras, rasterisation and conditioning images (built in the rendering issue)."""
