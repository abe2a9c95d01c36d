/**
 * Starts the local ranks of a data-parallel run, as torchrun does: one process per rank with
 * RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set, the cores shared between them.
 * When a rank dies, the others are stopped at once and the failure names the rank; the run then
 * resumes from its last checkpoint with the same command.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { ValidationError } from '../errors.js'
import { PACKAGE_ROOT } from '../paths.js'

export interface LaunchOptions {
  /** Ranks on this machine. */
  nproc: number
  nnodes?: number
  nodeRank?: number
  masterAddr?: string
  /** 0: a free port (one machine only). */
  masterPort?: number
  /** The pcam command line each rank runs, e.g. ['train', '--data', ...]. */
  args: string[]
  /** libtorch threads per rank (default: the cores divided among the local ranks). */
  threadsPerRank?: number
  /** Every line a rank prints (stdout and stderr). */
  onLine?: (rank: number, line: string, stream: 'stdout' | 'stderr') => void
  /** Called once per rank when it has started. */
  onStart?: (rank: number, pid: number) => void
}

export interface LaunchResult {
  ok: boolean
  /** The first rank that failed, and how. */
  failed?: { rank: number; code: number | null; signal: NodeJS.Signals | null }
}

/** The environment a process started by another launcher sees, if it is a rank. */
export interface RankEnvironment {
  rank: number
  worldSize: number
  masterAddr: string
  masterPort: number
  /** LOCAL_RANK: this rank's index on its machine (default 0). */
  localRank: number
}

export function rankFromEnvironment(env = process.env): RankEnvironment | null {
  if (env.RANK === undefined || env.WORLD_SIZE === undefined) return null
  const rank = Number(env.RANK)
  const worldSize = Number(env.WORLD_SIZE)
  const masterPort = Number(env.MASTER_PORT ?? 29500)
  if (!(Number.isInteger(rank) && Number.isInteger(worldSize) && rank >= 0 && rank < worldSize))
    throw new ValidationError(
      `RANK=${env.RANK} and WORLD_SIZE=${env.WORLD_SIZE} must be integers, 0 <= RANK < WORLD_SIZE`,
    )
  const localRank = Number(env.LOCAL_RANK ?? 0)
  if (!(Number.isInteger(localRank) && localRank >= 0))
    throw new ValidationError(`LOCAL_RANK=${env.LOCAL_RANK} must be an integer >= 0`)
  return { rank, worldSize, masterAddr: env.MASTER_ADDR ?? '127.0.0.1', masterPort, localRank }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export async function launchRanks(options: LaunchOptions): Promise<LaunchResult> {
  const nnodes = options.nnodes ?? 1
  const nodeRank = options.nodeRank ?? 0
  if (!(options.nproc >= 1 && nnodes >= 1 && nodeRank >= 0 && nodeRank < nnodes))
    throw new ValidationError(
      'Expected --nproc >= 1, --nnodes >= 1 and 0 <= --node-rank < --nnodes',
    )
  if (nnodes > 1 && !options.masterPort)
    throw new ValidationError(
      'Across machines every node needs the same --master-addr and --master-port',
    )
  const masterAddr = options.masterAddr ?? '127.0.0.1'
  const masterPort = options.masterPort || (await freePort())
  const worldSize = nnodes * options.nproc
  const threads =
    options.threadsPerRank ?? Math.max(1, Math.floor(availableParallelism() / options.nproc))
  const children: ChildProcess[] = []
  let failed: LaunchResult['failed']
  const exits: Promise<void>[] = []
  for (let local = 0; local < options.nproc; local++) {
    const rank = nodeRank * options.nproc + local
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'pcam.js'), ...options.args], {
      env: {
        ...process.env,
        RANK: String(rank),
        LOCAL_RANK: String(local),
        WORLD_SIZE: String(worldSize),
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        PCAM_NUM_THREADS: String(threads),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C in the terminal reaches the launcher only, which passes
      // it on once (a rank treats a second one as "quit at once").
      detached: true,
    })
    children.push(child)
    options.onStart?.(rank, child.pid ?? -1)
    for (const stream of ['stdout', 'stderr'] as const) {
      const lines = createInterface({ input: child[stream]! })
      lines.on('line', (line) => options.onLine?.(rank, line, stream))
    }
    exits.push(
      new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          if ((code !== 0 || signal) && !failed) {
            failed = { rank, code, signal }
            // One rank gone means the group is broken: stop the rest now rather than at a timeout.
            for (const other of children)
              if (other !== child && other.exitCode === null) other.kill('SIGTERM')
            setTimeout(() => {
              for (const other of children) if (other.exitCode === null) other.kill('SIGKILL')
            }, 5000).unref()
          }
          resolve()
        })
      }),
    )
  }
  // Ctrl-C / SIGTERM reach the launcher: pass them on so each rank checkpoints and stops.
  const forward = (signal: NodeJS.Signals) => () => {
    for (const child of children) if (child.exitCode === null) child.kill(signal)
  }
  const onInt = forward('SIGINT')
  const onTerm = forward('SIGTERM')
  const onExit = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  }
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  process.on('exit', onExit)
  try {
    await Promise.all(exits)
  } finally {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
    process.off('exit', onExit)
  }
  return failed ? { ok: false, failed } : { ok: true }
}
