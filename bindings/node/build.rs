//! Link flags for a Node.js addon (napi-build needs no Node.js at build time).

fn main() {
    napi_build::setup();
}
