"""The default root seeds of every command, and the one way to ask for fresh entropy.

A command run twice with its defaults gives the same numbers: ``stecheck simulate`` uses the default
experiment's seed (``stecheck/data/default.toml``), ``stecheck audit`` and ``stecheck phase`` the seeds
below, and the Python API (:func:`stecheck.simulate`, :class:`stecheck.claims.audit.run.AuditConfig`,
:class:`stecheck.claims.phase.run.PhaseConfig`) the same ones. Fresh OS entropy is used only when asked for
with the seed ``"random"``; the seed drawn is recorded in ``meta["seed"]``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["RANDOM", "SIMULATE_SEED", "AUDIT_SEED", "PHASE_SEED", "fresh_seed"]

#: The seed text that asks for fresh entropy.
RANDOM: Final = "random"
#: The default experiment's seed, 0x5e1ec7ed0c0ffee0ddba11fab1e5eed5 (also in stecheck/data/default.toml).
SIMULATE_SEED: Final = 0x5E1EC7ED0C0FFEE0DDBA11FAB1E5EED5
#: Default root seed of ``stecheck audit``.
AUDIT_SEED: Final = 213683819316904783660295750566222999870
#: Default root seed of the Monte Carlo spot checks of ``stecheck phase``.
PHASE_SEED: Final = 293670119109565299661878541307449936739


def fresh_seed() -> int:
    """A 128-bit seed from fresh OS entropy (numpy's ``SeedSequence``)."""
    import numpy as np

    return int(np.random.SeedSequence().entropy)
