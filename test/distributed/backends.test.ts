// Choosing c10d's backend and each rank's device, and the errors that asking for what this build
// or machine lacks gives. NCCL itself runs in test/gpu (make test-gpu); here every rule is
// checked through its inputs, so it holds on a CPU-only machine too.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, ValidationError } from '../../src/errors.js'
import { chooseBackend } from '../../src/learn/data-parallel.js'
import { rankDevice } from '../../src/learn/precision.js'
import { freePort, rankFromEnvironment } from '../../src/learn/launcher.js'
import { PACKAGE_ROOT } from '../../src/paths.js'
import { distributedBackends, ProcessGroup, tensor, type Tensor } from '../../src/torch/index.js'

const hasNccl = distributedBackends().includes('nccl')

/** Joins a one-rank NCCL group (refused before any connection in these tests). */
const joinNccl = (device?: 'cpu') =>
  ProcessGroup.init({
    rank: 0,
    worldSize: 1,
    masterAddr: '127.0.0.1',
    masterPort: 1,
    backend: 'nccl',
    device,
  })

describe('c10d backends', () => {
  it('this build has Gloo, and names NCCL only with a CUDA libtorch', () => {
    assert.ok(distributedBackends().includes('gloo'), distributedBackends().join(','))
    for (const b of distributedBackends()) assert.ok(b === 'gloo' || b === 'nccl', b)
  })

  it('auto: NCCL for a GPU run where built, Gloo for a CPU run', () => {
    assert.equal(chooseBackend('auto', 'cpu'), 'gloo')
    assert.equal(chooseBackend('auto', 'cuda:0'), hasNccl ? 'nccl' : 'gloo')
    assert.equal(chooseBackend('gloo', 'cuda:1'), 'gloo')
    if (hasNccl) assert.equal(chooseBackend('nccl', 'cuda:0'), 'nccl')
  })

  it('NCCL on the CPU, or an unknown backend, is refused with the fix', () => {
    assert.throws(
      () => chooseBackend('nccl', 'cpu'),
      (e: Error) => {
        assert.ok(e instanceof ValidationError)
        assert.match(e.message, /--backend gloo/)
        return true
      },
    )
    assert.throws(
      () => chooseBackend('mpi' as 'gloo', 'cpu'),
      /Expected auto, gloo or nccl for --backend but received "mpi"/,
    )
    assert.throws(() => joinNccl('cpu'), /nccl runs collectives on CUDA GPUs/)
  })

  it(
    'NCCL on a build without it says how to get it',
    { skip: hasNccl && 'this build has NCCL' },
    () => {
      assert.throws(
        () => joinNccl(),
        (e: Error) => {
          assert.ok(e instanceof ConfigError, String(e))
          assert.match(e.message, /built without NCCL/)
          assert.match(e.message, /--backend gloo/)
          return true
        },
      )
    },
  )

  it('one GPU per local rank, counted from the one asked for', () => {
    assert.equal(rankDevice('cpu', 3, 0), 'cpu')
    assert.equal(rankDevice('cuda:0', 0, 1), 'cuda:0')
    assert.equal(rankDevice('cuda', 1, 2), 'cuda:1')
    assert.equal(rankDevice('cuda:1', 2, 4), 'cuda:3')
    assert.throws(
      () => rankDevice('cuda:0', 1, 1),
      (e: Error) => {
        assert.ok(e instanceof ValidationError)
        assert.match(e.message, /Local rank 1 would take GPU cuda:1, but 1 GPU\(s\) are visible/)
        assert.match(e.message, /--nproc at most 1 from cuda:0/)
        return true
      },
    )
  })

  it('pcam train refuses, before any rank starts, what every rank would refuse', () => {
    const bin = join(PACKAGE_ROOT, 'bin', 'pcam.js')
    for (const [args, message] of [
      [['--backend', 'nccl', '--device', 'cpu'], /NCCL runs collectives on CUDA GPUs/],
      [['--backend', 'mpi'], /Expected auto, gloo or nccl for --backend but received "mpi"/],
    ] as const) {
      const run = spawnSync(
        process.execPath,
        [bin, 'train', '--data', 'nowhere', '--nproc', '2', ...args],
        { encoding: 'utf8' },
      )
      assert.equal(run.status, 1, run.stderr)
      assert.match(run.stderr, message)
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr)
      assert.doesNotMatch(run.stdout, /rank 0: pid/, 'no rank was started')
    }
  })

  it("a rank's LOCAL_RANK comes from the launcher's environment", () => {
    const env = { RANK: '3', WORLD_SIZE: '4', MASTER_PORT: '29501' }
    assert.equal(rankFromEnvironment(env)?.localRank, 0)
    assert.equal(rankFromEnvironment({ ...env, LOCAL_RANK: '1' })?.localRank, 1)
    assert.throws(() => rankFromEnvironment({ ...env, LOCAL_RANK: 'x' }), /LOCAL_RANK=x/)
  })

  it('a gradient through a group that is gone is an error, not a dangling pointer', () => {
    // In a child with --expose-gc: the group's handle is collected while a graph still uses it.
    const module = (path: string) => JSON.stringify(join(PACKAGE_ROOT, 'dist', 'src', path))
    const script = `
      const t = await import(${module('torch/index.js')})
      const { freePort } = await import(${module('learn/launcher.js')})
      const options = { rank: 0, worldSize: 1, masterAddr: '127.0.0.1' }
      const attempt = async (lose) => {
        let group = t.ProcessGroup.init({ ...options, masterPort: await freePort() })
        const x = t.tensor([1, 2]).requiresGrad_()
        const y = group.allReduceSumAutograd(x)
        group = lose(group)
        for (let i = 0; i < 4; i++) {
          globalThis.gc()
          await new Promise((resolve) => setImmediate(resolve))
        }
        try {
          y.sum().backward()
          console.log('backward ran')
        } catch (error) {
          console.log('error:', error.message.split('\\n')[0])
        }
      }
      await attempt((group) => (group.destroy(), group))
      await attempt(() => null)
    `
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    })
    assert.equal(run.status, 0, run.stderr)
    const lines = run.stdout.trim().split('\n')
    assert.equal(lines.length, 2, run.stdout)
    for (const line of lines) assert.match(line, /^error: .*the process group was destroyed/)
  })

  it('a one-rank Gloo group runs every collective on the CPU', async () => {
    const group = ProcessGroup.init({
      rank: 0,
      worldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: await freePort(),
    })
    const owned: Tensor[] = []
    const keep = (t: Tensor) => (owned.push(t), t)
    try {
      assert.equal(group.backend, 'gloo')
      assert.equal(group.device, 'cpu')
      const x = keep(tensor([1, 2, 3]))
      group.allReduce([x], 'mean')
      assert.deepEqual(x.toArray(), [1, 2, 3])
      const gathered = group.allGather(
        keep(
          tensor([
            [1, 2],
            [3, 4],
          ]),
        ),
      )
      owned.push(...gathered)
      assert.deepEqual(
        gathered.map((g) => [g.shape, g.toArray()]),
        [
          [
            [2, 2],
            [1, 2, 3, 4],
          ],
        ],
      )
      const summed = keep(group.allReduceSumAutograd(keep(tensor([5]))))
      assert.deepEqual(summed.toArray(), [5])
      group.barrier()
    } finally {
      group.destroy()
      for (const t of owned) t.dispose()
    }
  })
})
