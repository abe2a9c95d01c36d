/**
 * onnxruntime-web's files that a page predicting inside the browser needs (its ES module and
 * WebAssembly for the CPU), found in node_modules: served by pcam serve under /ort/ and copied by
 * pcam export --format web. No CDN.
 * @module
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { ConfigError } from '../errors.js'

/** The files a plain <script type=module> import needs, with their content types. */
export const ORT_WEB_FILES: Record<string, string> = {
  'ort.wasm.min.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.mjs': 'text/javascript; charset=utf-8',
  'ort-wasm-simd-threaded.wasm': 'application/wasm',
}

/** node_modules/onnxruntime-web/dist, wherever npm put it. */
export function ortWebDir(): string {
  const require = createRequire(import.meta.url)
  const dir = dirname(require.resolve('onnxruntime-web')) // its main file lies in dist/
  for (const file of Object.keys(ORT_WEB_FILES))
    if (!existsSync(join(dir, file)))
      throw new ConfigError(
        `${join(dir, file)} is missing: reinstall pcam's npm packages (npm ci).`,
      )
  return dir
}
