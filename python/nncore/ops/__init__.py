"""Function subclasses, one module per op family (design.md); basic.py holds the NumPy ops."""
