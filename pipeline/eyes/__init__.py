"""The eye stage: what happens to the eyes of each output frame once the head is composited (see `stage`)."""
