"""stance: label, train and score stance in news sentences about US-China relations."""

__version__ = "0.1.0"
