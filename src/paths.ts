/**
 * Where pcam's own files are: the package root (the native addon, the Python peers of the
 * benchmarks), and the shared data and weights beside a development checkout (../shared).
 * @module
 */
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// This file runs as dist/src/paths.js: two levels up is the package root.
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))

/** ../shared beside the checkout, or $PCAM_SHARED: sample data and offline weights. */
export const SHARED_DIR = process.env.PCAM_SHARED ?? join(PACKAGE_ROOT, '..', 'shared')
