"""TCP stream graphs: the data (`series`, pure) and the drawing (`draw`, matplotlib, imported lazily)."""
