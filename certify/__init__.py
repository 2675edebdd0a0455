"""certify: formal verification and certification of multigrade ReLU approximation.

The public API is small; data flows one way, target → construction → network → checker →
report:

    from certify import load_target, build, check
    target = load_target("examples/sine.py")
    network = build(target, grades=10)          # this toolkit's construction, exact weights
    report = check(target, network)             # (G1), (G2), sup bounds; proved/refuted/unknown
    print(report.verdict)

Everything else (`certify.smt`, `certify.local`, …) is internal.
"""

from .checker import check
from .construction import build
from .errors import CertifyError, NetworkError, TargetError, UsageError
from .network import Network, read_network, write_network
from .report import Report
from .target import load_target
from .torch_import import from_torch

__all__ = ["load_target", "build", "check", "read_network", "write_network", "Network", "from_torch",
           "Report", "CertifyError", "TargetError", "NetworkError", "UsageError"]
