"""The exact engine: number models (exact, flint, Arb balls, float intervals, floats), compiled
target programs, Freudenthal grids, exact networks and their ReLU realisation, linear regions,
enclosures of residuals and their L^p integrals.
"""
