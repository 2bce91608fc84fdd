"""The small vocabulary every connector shares and maps onto: the normalised payment outcome,
the normalised postal status with its rank and advance rule, the provider error base, the
secret type and Vietnamese text folding. It imports nothing else of the project."""
