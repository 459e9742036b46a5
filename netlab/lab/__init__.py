"""netlab.lab."""
