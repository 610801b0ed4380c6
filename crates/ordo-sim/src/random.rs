//! Randomized runs from a seed.
