/**
 * Runs PyTorch (Python) on the same inputs as a pcam test, through test/parity/reference.py.
 * A missing PyTorch fails the test with an install hint (src/bench/python.ts): a parity test never
 * passes silently.
 * @module
 */
import { join } from 'node:path'
import assert from 'node:assert/strict'
import { runPythonJson } from '../../src/bench/python.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { checkDtype, fromBytes, type Tensor } from '../../src/torch/index.js'

const SCRIPT = join(PACKAGE_ROOT, 'test', 'parity', 'reference.py')
export interface EncodedTensor {
  shape: number[]
  dtype: string
  data: string
}

export function encode(t: Tensor): EncodedTensor {
  const data = t.data()
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const dtype = t.dtype === 'float16' || t.dtype === 'bfloat16' ? 'float32' : t.dtype
  return { shape: t.shape, dtype, data: bytes.toString('base64') }
}

export function decode(spec: EncodedTensor): Tensor {
  return fromBytes(Buffer.from(spec.data, 'base64'), checkDtype(spec.dtype), spec.shape)
}

export interface Case {
  /** A Python expression over the input names, torch and F (torch.nn.functional). */
  expr: string
  inputs: Record<string, Tensor>
  /** Inputs whose gradients to return. */
  grad?: string[]
  /** Upstream gradient for the first output (ones when omitted). */
  gradOutput?: Tensor
}

export interface Result {
  outputs: Tensor[]
  grads: Record<string, Tensor>
  inputsAfter: Record<string, Tensor>
}

/** Evaluates every case in one Python process (torch's import costs seconds). */
export function runReference(cases: Case[], threads = 1, device = 'cpu'): Result[] {
  const request = {
    threads,
    device,
    cases: cases.map((c) => ({
      expr: c.expr,
      inputs: Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, encode(v)])),
      grad: c.grad ?? [],
      gradOutput: c.gradOutput ? encode(c.gradOutput) : null,
    })),
  }
  const reply = runPythonJson(SCRIPT, request) as { results: Record<string, unknown>[] }
  return reply.results.map((r: Record<string, unknown>, i: number) => {
    if (typeof r.error === 'string')
      throw new Error(`reference failed on "${cases[i]?.expr}": ${r.error}`)
    const decodeAll = (o: unknown) =>
      Object.fromEntries(
        Object.entries((o ?? {}) as Record<string, EncodedTensor>).map(([k, v]) => [k, decode(v)]),
      )
    return {
      outputs: (r.outputs as EncodedTensor[]).map(decode),
      grads: decodeAll(r.grads),
      inputsAfter: decodeAll(r.inputsAfter),
    }
  })
}

export const PARITY_DIR = join(PACKAGE_ROOT, 'test', 'parity')

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise, with a useful message. */
export function assertClose(
  actual: Tensor,
  expected: Tensor,
  options: { atol?: number; rtol?: number; what?: string } = {},
): void {
  const { atol = 1e-5, rtol = 1e-4, what = 'tensor' } = options
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`)
  const a = actual.data()
  const e = expected.data()
  let worst = 0
  let worstIndex = -1
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(Number(a[i]) - Number(e[i]))
    const excess = diff - (atol + rtol * Math.abs(Number(e[i])))
    if (excess > worst || Number.isNaN(diff)) {
      worst = Number.isNaN(diff) ? Infinity : excess
      worstIndex = i
    }
  }
  if (worstIndex >= 0) {
    assert.fail(
      `${what}: element ${worstIndex} is ${a[worstIndex]}, expected ${e[worstIndex]} ` +
        `(atol ${atol}, rtol ${rtol})`,
    )
  }
}
