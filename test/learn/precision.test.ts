// The precision and device a network runs in, chosen from the hardware: the rules for CPUs with
// and without bf16 units and for GPUs before and after compute capability 8.0, the CPU's units
// read from CPUID against what the kernel lists in /proc/cpuinfo, the override, what prediction
// picks for a run, and a GPU this machine lacks refused in one line by every command.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  choosePrecision,
  computePlan,
  cpuHasBf16Units,
  inferencePlan,
  recordedPrecision,
  resolveDevice,
  type ComputeTarget,
} from '../../src/learn/precision.js'
import * as t from '../../src/torch/index.js'

const BIN = fileURLToPath(new URL('../../../bin/pcam.js', import.meta.url))
const cpu = (bf16Units: boolean): ComputeTarget => ({ device: 'cpu', bf16Units })
const gpu = (major: number, minor = 0): ComputeTarget => ({
  device: 'cuda:0',
  gpu: { name: 'Test GPU', major, minor, totalMemory: 2 ** 34 },
})

/** Runs fn with PCAM_CPU_BF16 set to value, restoring it after. */
function withUnits<T>(value: '0' | '1', fn: () => T): T {
  const before = process.env.PCAM_CPU_BF16
  process.env.PCAM_CPU_BF16 = value
  try {
    return fn()
  } finally {
    if (before === undefined) delete process.env.PCAM_CPU_BF16
    else process.env.PCAM_CPU_BF16 = before
  }
}

describe('precision chosen by the hardware', () => {
  it('on a CPU: bf16 with bf16 units, fp32 without; asking overrides', () => {
    assert.equal(choosePrecision('auto', cpu(true)).precision, 'bf16')
    const avx2 = choosePrecision('auto', cpu(false))
    assert.equal(avx2.precision, 'fp32')
    assert.match(avx2.reason, /no bf16 units/)
    assert.equal(avx2.warning, undefined)
    assert.equal(choosePrecision('fp32', cpu(true)).precision, 'fp32')
    assert.equal(choosePrecision('bf16', cpu(true)).warning, undefined)
  })

  it('forcing bf16 on a CPU without bf16 units works but warns why it is slow', () => {
    const forced = choosePrecision('bf16', cpu(false))
    assert.equal(forced.precision, 'bf16')
    assert.match(forced.warning ?? '', /emulates it.*slower than fp32/)
  })

  it('refuses fp16 on a CPU (its autocast is bf16 only), naming the options that work', () => {
    assert.throws(
      () => choosePrecision('fp16', cpu(true)),
      /fp16 is for CUDA GPUs.*--precision auto/,
    )
  })

  it('on a GPU: bf16 from compute capability 8.0, fp16 with loss scaling before it', () => {
    assert.equal(choosePrecision('auto', gpu(8)).precision, 'bf16')
    assert.equal(choosePrecision('auto', gpu(9)).precision, 'bf16')
    const volta = choosePrecision('auto', gpu(7, 0))
    assert.equal(volta.precision, 'fp16')
    assert.match(volta.reason, /7\.0.*loss scaling/)
    assert.match(choosePrecision('bf16', gpu(7, 5)).warning ?? '', /emulated/)
    assert.equal(choosePrecision('fp16', gpu(8)).warning, undefined)
  })

  it("reads the CPU's bf16 units from CPUID as the kernel lists them in /proc/cpuinfo", (ctx) => {
    if (!existsSync('/proc/cpuinfo') || !['x64', 'ia32'].includes(process.arch)) {
      ctx.skip('needs an x86 Linux /proc/cpuinfo to compare with')
      return
    }
    const flags = new Set(
      (/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '')
        .trim()
        .split(/\s+/),
    )
    const features = t.cpuFeatures()
    assert.equal(features.avx2, flags.has('avx2'))
    assert.equal(features.avx512f, flags.has('avx512f'))
    assert.equal(features.avx512Bf16, flags.has('avx512_bf16'))
    assert.equal(features.amxBf16, flags.has('amx_bf16'))
    const saved = process.env.PCAM_CPU_BF16
    delete process.env.PCAM_CPU_BF16
    try {
      assert.equal(cpuHasBf16Units(), flags.has('avx512_bf16') || flags.has('amx_bf16'))
    } finally {
      if (saved !== undefined) process.env.PCAM_CPU_BF16 = saved
    }
  })

  it('PCAM_CPU_BF16 stands in for CPUID, so either machine can be seen from this one', () => {
    assert.equal(
      withUnits('0', () => computePlan('auto', 'cpu').precision),
      'fp32',
    )
    assert.equal(
      withUnits('1', () => computePlan('auto', 'cpu').precision),
      'bf16',
    )
  })

  it("prediction keeps a float32 run in fp32 and gives a mixed-precision run the hardware's choice", () => {
    withUnits('0', () => {
      assert.equal(inferencePlan('bf16', 'auto', 'cpu').precision, 'fp32')
      assert.equal(inferencePlan('fp32', 'auto', 'cpu').precision, 'fp32')
      assert.equal(inferencePlan('fp16', 'auto', 'cpu').precision, 'fp32')
      assert.equal(inferencePlan('fp32', 'bf16', 'cpu').precision, 'bf16')
    })
    withUnits('1', () => {
      assert.equal(inferencePlan('bf16', 'auto', 'cpu').precision, 'bf16')
      assert.equal(inferencePlan('fp32', 'auto', 'cpu').precision, 'fp32')
    })
    // Runs from before --precision said it with mixedPrecision.
    assert.equal(recordedPrecision({ mixedPrecision: true }), 'bf16')
    assert.equal(recordedPrecision({ mixedPrecision: false }), 'fp32')
    assert.equal(recordedPrecision({ precision: 'fp16', mixedPrecision: true }), 'fp16')
  })

  it('auto is the CPU where libtorch has no CUDA or sees no GPU', () => {
    const gpus = t.cudaBuild() ? t.cudaDeviceCount() : 0
    assert.equal(resolveDevice('auto'), gpus > 0 ? 'cuda:0' : 'cpu')
    assert.equal(resolveDevice('cpu'), 'cpu')
  })
})

describe(
  '--device cuda without a GPU',
  { skip: t.cudaIsAvailable() && 'this machine has a GPU' },
  () => {
    // Every command that runs a network, with what it needs before the device is looked at.
    const commands: string[][] = [
      ['train', '--data', 'no-store'],
      ['lr-find', '--data', 'no-store'],
      ['eval', '--model', 'no-run', '--data', 'no-store'],
      ['predict', '--model', 'no-run', 'x.png'],
      ['explain', '--model', 'no-run', 'x.png'],
      ['slide', 'predict', '--model', 'no-run', 'x.svs'],
      ['serve', '--model', 'no-run'],
      ['bench', 'train', '--data', 'no-store'],
      ['bench', 'recipe', '--data', 'no-store'],
      ['bench', 'predict', '--model', 'no-run', '--data', 'no-store'],
      ['bench', 'slide', '--model', 'no-run', '--slide', 'x.svs'],
      ['bench', 'engine'],
      ['bench', 'memory', '--data', 'no-store'],
      ['bench', 'serve', '--model', 'no-run', '--data', 'no-store'],
    ]
    for (const args of commands)
      it(`pcam ${args.slice(0, args[0] === 'slide' || args[0] === 'bench' ? 2 : 1).join(' ')} says so in one line that names the fix`, () => {
        const run = spawnSync(process.execPath, [BIN, ...args, '--device', 'cuda'], {
          encoding: 'utf8',
        })
        assert.equal(run.status, 1, run.stderr)
        const lines = run.stderr.trim().split('\n')
        assert.equal(lines.length, 1, run.stderr)
        assert.match(lines[0] as string, /CUDA requested but .*Use --device cpu/)
      })
  },
)
