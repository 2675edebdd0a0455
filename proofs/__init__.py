"""Machine-checked lemmas of docs/theory.md §4 / proofs/THEOREM.md (see proofs/README.md)."""
