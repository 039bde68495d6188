"""Small files the code needs at run time (landmark maps, the canonical face). No footage."""
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
