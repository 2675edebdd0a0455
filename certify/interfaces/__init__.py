"""Interfaces: the command line, network files, ONNX / PyTorch import, SMT-LIB / VNN-LIB export,
plots and progress output.
"""
