"""Machine-checked lemmas of THEORY.md §4 / proofs/THEOREM.md (see proofs/README.md)."""
