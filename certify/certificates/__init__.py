"""Certificates: the checker and its provers (grid-local enclosures, vertex-anchored proofs,
linear regions, SMT), their refinement, and the report they produce.
"""
