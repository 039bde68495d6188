"""Media and shared plumbing, below every other package: probing, reading and writing video, audio and image
sequences, the ffmpeg processes, colour, timecode, plates, atomic writes, errors, progress and quality metrics."""
