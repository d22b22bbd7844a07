//! A single-node, CometBFT-compatible IBC chain.
