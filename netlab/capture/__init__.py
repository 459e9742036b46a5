"""netlab.capture."""
