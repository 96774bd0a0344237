"""calmstrap: a chest strap's beats become a personal arousal score and gentle somatic prompts."""

__version__ = "0.1.0"
