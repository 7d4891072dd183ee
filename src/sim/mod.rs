//! Simulation: many nodes in one process (the deterministic `Network` of pure `NodeState`s).
