"""arq transport: worker settings and thin jobs."""
