"""netlab.render."""
