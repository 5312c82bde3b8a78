"""ivmon core: what a reading is and the one path it takes."""

__version__ = "0.1.0"
