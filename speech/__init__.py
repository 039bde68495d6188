"""Speech analysis, the audio-to-mouth model and the lip-sync meter's audio side: sound in, mouth controls out."""
