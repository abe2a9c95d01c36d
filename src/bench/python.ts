/**
 * Finds a Python interpreter with PyTorch, the peer that benchmarks and parity tests compare
 * against: $PCAM_PYTHON, then Debian's /usr/bin/python3, then the python3 on PATH.
 * @module
 */
import { spawnSync } from 'node:child_process'
import { ConfigError } from '../errors.js'

export const TORCH_PYTHON_HINT =
  'PyTorch for Python is needed as the reference: "sudo apt-get install python3-torch ' +
  'python3-torchvision" (Debian/Ubuntu; "make test" does it), or set PCAM_PYTHON to a python with torch.'

let found: string | undefined

export function torchPython(): string {
  if (found !== undefined) return found
  const candidates = [process.env.PCAM_PYTHON, '/usr/bin/python3', 'python3'].filter(
    (c): c is string => typeof c === 'string' && c !== '',
  )
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import torch, numpy'], { stdio: 'ignore' })
    if (probe.status === 0) {
      found = candidate
      return candidate
    }
  }
  throw new ConfigError(`${TORCH_PYTHON_HINT} Tried: ${candidates.join(', ')}.`)
}

/** Runs a Python script with a JSON request on stdin and returns its JSON reply. */
export function runPythonJson(
  script: string,
  request: unknown,
  env: Record<string, string> = {},
): unknown {
  const run = spawnSync(torchPython(), [script], {
    input: JSON.stringify(request),
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  })
  if (run.status !== 0) {
    throw new ConfigError(`${script} failed with exit code ${run.status}: ${run.stderr.trim()}`)
  }
  return JSON.parse(run.stdout)
}
