#!/usr/bin/env node
// Builds the native addon with cargo and copies it to ./ordo.node, where
// index.js loads it. No prebuilt binary is downloaded: only the Rust
// toolchain is needed. `--release` builds optimized (for benchmarks).
'use strict';

const { execFileSync } = require('node:child_process');
const { copyFileSync } = require('node:fs');
const path = require('node:path');

const release = process.argv.includes('--release');
const here = path.resolve(__dirname, '..');

const cargoArgs = ['build', '-p', 'ordo-node', ...(release ? ['--release'] : [])];
execFileSync('cargo', cargoArgs, { cwd: here, stdio: 'inherit' });

const metadata = JSON.parse(
  execFileSync('cargo', ['metadata', '--format-version', '1', '--no-deps'], { cwd: here }).toString(),
);
const library = {
  linux: 'libordo_node.so',
  darwin: 'libordo_node.dylib',
  win32: 'ordo_node.dll',
}[process.platform];
if (!library) {
  throw new Error(`unsupported platform ${process.platform}`);
}
const built = path.join(metadata.target_directory, release ? 'release' : 'debug', library);
copyFileSync(built, path.join(here, 'ordo.node'));
console.log(`copied ${built} to ordo.node`);
