// Training steps of the reference network against PyTorch: same weights and batch, each optimizer
// with parameter groups whose hyper-parameters change every step. Checks state-dict names (loaded
// strictly by torch), the loss, every gradient, and every parameter and buffer after the steps.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { join } from 'node:path'
import { referenceNet } from '../../src/bench/reference-net.js'
import { runPythonJson } from '../../src/bench/python.js'
import * as t from '../../src/torch/index.js'
import type { Optimizer, Tensor } from '../../src/torch/index.js'
import {
  assertClose,
  decode,
  encode,
  PARITY_DIR,
  type EncodedTensor,
} from '../helpers/torch-reference.js'

type Hyper = Record<string, number | boolean | number[]>
interface Scenario {
  kind: 'sgd' | 'sgd-nesterov' | 'sgd-dampening' | 'adam' | 'adamw'
  options: [Hyper, Hyper]
  /** Hyper-parameters of each group at each step, set before that step (as a scheduler would). */
  schedule: (step: number) => [Hyper, Hyper]
  make: (groups: { params: Tensor[] }[]) => Optimizer<{ lr: number }, unknown>
}

const STEPS = 3
const scenarios: Scenario[] = [
  {
    kind: 'sgd',
    options: [
      { lr: 0.05, momentum: 0.9, weight_decay: 1e-3 },
      { lr: 0.1, momentum: 0.8 },
    ],
    schedule: (k) => [{ lr: 0.05 * (1 + k), momentum: 0.9 - 0.05 * k }, { lr: 0.1 / (1 + k) }],
    make: (g) =>
      new t.SGD(
        [
          { ...g[0]!, lr: 0.05, momentum: 0.9, weightDecay: 1e-3 },
          { ...g[1]!, lr: 0.1, momentum: 0.8 },
        ],
        { lr: 0.1 },
      ),
  },
  {
    kind: 'sgd-nesterov',
    options: [
      { lr: 0.05, momentum: 0.9, nesterov: true },
      { lr: 0.02, momentum: 0.9, nesterov: true },
    ],
    schedule: (k) => [{ lr: 0.05 * (1 + k) }, { lr: 0.02 }],
    make: (g) =>
      new t.SGD(
        [
          { ...g[0]!, lr: 0.05 },
          { ...g[1]!, lr: 0.02 },
        ],
        { lr: 0.1, momentum: 0.9, nesterov: true },
      ),
  },
  {
    kind: 'sgd-dampening',
    options: [{ lr: 0.05, momentum: 0.5, dampening: 0.3 }, { lr: 0.05 }],
    schedule: () => [{}, {}],
    make: (g) =>
      new t.SGD([{ ...g[0]!, momentum: 0.5, dampening: 0.3 }, { ...g[1]! }], { lr: 0.05 }),
  },
  {
    kind: 'adam',
    options: [{ lr: 1e-3, weight_decay: 1e-2 }, { lr: 3e-3 }],
    schedule: (k) => [{ lr: 1e-3 * (1 + k), betas: [0.9 - 0.05 * k, 0.99] }, { lr: 3e-3 }],
    make: (g) =>
      new t.Adam([
        { ...g[0]!, lr: 1e-3, weightDecay: 1e-2 },
        { ...g[1]!, lr: 3e-3 },
      ]),
  },
  {
    kind: 'adamw',
    options: [
      { lr: 2e-3, weight_decay: 0.05 },
      { lr: 1e-3, weight_decay: 0 },
    ],
    schedule: (k) => [{ lr: 2e-3 / (1 + k), weight_decay: 0.05 * (1 + k) }, { lr: 1e-3 }],
    make: (g) =>
      new t.AdamW([
        { ...g[0]!, lr: 2e-3, weightDecay: 0.05 },
        { ...g[1]!, lr: 1e-3, weightDecay: 0 },
      ]),
  },
]

// PyTorch's snake_case hyper-parameter names to pcam's.
const PCAM_NAMES: Record<string, string> = { weight_decay: 'weightDecay' }

describe('training steps match PyTorch', () => {
  for (const scenario of scenarios) {
    it(`${scenario.kind}: loss, gradients, parameters and buffers after ${STEPS} steps`, () => {
      t.manualSeed(7)
      const net = referenceNet()
      const x = t.randn([4, 3, 16, 16])
      const y = t.randint(0, 2, [4, 1]).float()
      const named = [...net.namedParameters()]
      // Group 0: the first two conv blocks; group 1: the rest (as layer groups will be).
      const split = named.findIndex(([name]) => name.startsWith('8.'))
      const groupNames = [named.slice(0, split), named.slice(split)].map((g) => g.map(([n]) => n))
      const request = {
        kind: scenario.kind,
        state: Object.fromEntries([...net.stateDict()].map(([k, v]) => [k, encode(v)])),
        groups: groupNames.map((names, i) => ({ names, options: scenario.options[i] })),
        schedule: Array.from({ length: STEPS }, (_, k) => scenario.schedule(k)),
        x: encode(x),
        y: encode(y),
      }
      const reply = runPythonJson(join(PARITY_DIR, 'training_reference.py'), request) as {
        losses: number[]
        grads: Record<string, EncodedTensor>
        state: Record<string, EncodedTensor>
      }

      const byName = new Map(named)
      const optimizer = scenario.make(
        groupNames.map((names) => ({ params: names.map((n) => byName.get(n)!) })),
      )
      net.train()
      for (let step = 0; step < STEPS; step++) {
        scenario.schedule(step).forEach((values, g) => {
          const group = optimizer.paramGroups[g] as unknown as Record<string, unknown>
          for (const [key, value] of Object.entries(values)) group[PCAM_NAMES[key] ?? key] = value
        })
        const loss = t.scope(() => {
          optimizer.zeroGrad()
          const l = t.bceWithLogits(net.forward(x), y)
          l.backward()
          return l.item()
        })
        assert.ok(
          Math.abs(loss - reply.losses[step]!) < 1e-5,
          `step ${step} loss ${loss} vs ${reply.losses[step]}`,
        )
        if (step === 0) {
          for (const [name, p] of named) {
            const grad = p.grad!
            assertClose(grad, decode(reply.grads[name]!), {
              what: `gradient of ${name}`,
              atol: 1e-5,
              rtol: 1e-3,
            })
            grad.dispose()
          }
        }
        optimizer.step()
      }
      for (const [name, value] of net.stateDict()) {
        assertClose(value.detach(), decode(reply.state[name]!), {
          what: `${name} after training`,
          atol: 1e-5,
          rtol: 1e-3,
        })
      }
      optimizer.dispose()
      net.dispose()
    })
  }
})
