"""The modular recipe (八股): generateds.py (data), forward.py (network), backward.py (training)."""
