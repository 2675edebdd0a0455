"""certify: formal verification and certification of multigrade ReLU approximation.

The public API is small; data flows one way, target → construction → network → checker →
report:

    from certify import load_target, build, check
    target = load_target("examples/sine.py")
    network = build(target, grades=10)          # this toolkit's construction, exact weights
    report = check(target, network)             # (G1), (G2), sup bounds; proved/refuted/unknown
    print(report.verdict)

Everything else (`certify.certificates.smt`, `certify.certificates.local`, …) is internal.
"""

import os as _os

# Tiny matrix products (sampling through layers) gain nothing from BLAS threads, which
# spin on a shared machine; cap them before numpy is first imported (users may override).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_name, "1")

# Imported on first use, so that `certify --help` does not pay for SymPy.
_EXPORTS = {
    "check": "certificates.checker", "build": "construction", "CertifyError": "errors",
    "NetworkError": "errors", "TargetError": "errors", "UsageError": "errors",
    "Network": "engine.network", "read_network": "engine.network", "write_network": "engine.network",
    "Report": "certificates.report", "load_target": "target", "from_torch": "interfaces.torch_import",
}

__all__ = ["load_target", "build", "check", "read_network", "write_network", "Network", "from_torch",
           "Report", "CertifyError", "TargetError", "NetworkError", "UsageError"]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'certify' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
