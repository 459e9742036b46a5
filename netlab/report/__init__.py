"""netlab.report."""
