//! Runtime benchmark (placeholder).
fn main() {}
