/**
 * PyTorch's c10d process groups from TypeScript: a TCP-store rendezvous and Gloo collectives
 * (all-reduce, broadcast, all-gather, barrier) on CPU tensors. Calls block until the collective
 * is done on this rank, so they belong in a worker thread. A peer that dies or stalls makes the
 * next collective fail after the timeout with Gloo's reason, never hang for good.
 * @module
 */
import { hostname } from 'node:os'
import { ConfigError, ValidationError } from '../errors.js'
import { native } from './native.js'
import { cat, zeros } from './creation.js'
import { handles, kHandle, Tensor } from './tensor.js'

/** How ProcessGroup.init joins a group, as torch.distributed.init_process_group's arguments. */
export interface ProcessGroupOptions {
  /** This process's rank, 0 to worldSize - 1. */
  rank: number
  /** Number of processes in the group. */
  worldSize: number
  /** Host of rank 0's TCP store that every rank connects to, as MASTER_ADDR. */
  masterAddr: string
  /** Port of that TCP store, as MASTER_PORT. */
  masterPort: number
  /** How long a rendezvous or collective may wait for the other ranks. */
  timeoutMs?: number
  /**
   * The address Gloo binds on this machine: default $PCAM_GLOO_HOST, else loopback when the
   * master is on loopback, else this machine's hostname (which must resolve to a reachable address).
   */
  host?: string
  /** gloo (CPU, TCP). nccl would need a CUDA libtorch with NCCL, which this addon does not bind. */
  backend?: 'gloo' | 'nccl'
}

/** How allReduce combines the ranks' values, as torch.distributed.ReduceOp. */
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min'

function binding() {
  if (!native.distBackends.includes('gloo') || !native.distInit)
    throw new ConfigError(
      'This pcam was built without Gloo, c10d\'s CPU backend: install Gloo\'s headers ("sudo apt-get install libgloo-dev") and rebuild ("make build").',
    )
  return native as Required<typeof native>
}

function defaultHost(masterAddr: string): string {
  if (process.env.PCAM_GLOO_HOST) return process.env.PCAM_GLOO_HOST
  return /^(127\.|localhost$|::1$)/.test(masterAddr) ? '127.0.0.1' : hostname()
}

/** A Gloo process group for data-parallel training on CPU tensors; made by ProcessGroup.init. */
export class ProcessGroup {
  /** This process's rank, 0 to worldSize - 1. */
  readonly rank: number
  /** Number of processes in the group. */
  readonly worldSize: number
  #handle: unknown

  private constructor(handle: unknown, rank: number, worldSize: number) {
    this.#handle = handle
    this.rank = rank
    this.worldSize = worldSize
  }

  /** Joins the group: returns once all worldSize ranks have connected (or throws at the timeout). */
  static init(options: ProcessGroupOptions): ProcessGroup {
    const { rank, worldSize, masterAddr, masterPort } = options
    if (options.backend === 'nccl')
      throw new ConfigError(
        'The nccl backend is not built into this pcam (it needs a CUDA libtorch with NCCL); use gloo.',
      )
    if (!(Number.isInteger(worldSize) && worldSize >= 1))
      throw new ValidationError(`worldSize must be a positive integer, not ${worldSize}`)
    if (!(Number.isInteger(rank) && rank >= 0 && rank < worldSize))
      throw new ValidationError(`rank must be in 0..${worldSize - 1}, not ${rank}`)
    if (!(Number.isInteger(masterPort) && masterPort > 0 && masterPort < 65536))
      throw new ValidationError(`masterPort must be a port number, not ${masterPort}`)
    const handle = binding().distInit(
      masterAddr,
      masterPort,
      rank,
      worldSize,
      options.timeoutMs ?? 60_000,
      options.host ?? defaultHost(masterAddr),
    )
    return new ProcessGroup(handle, rank, worldSize)
  }

  get #group(): unknown {
    if (this.#handle === null) throw new ValidationError('The process group was destroyed')
    return this.#handle
  }

  /**
   * Reduces every tensor over the ranks, in place ('mean' divides the sum by worldSize). One
   * collective per tensor: flatten many small ones into one first (as DataParallel does).
   */
  allReduce(tensors: Tensor[], op: ReduceOp = 'sum'): void {
    for (const t of tensors) {
      binding().distAllReduce(this.#group, handles([t]), op === 'mean' ? 'sum' : op)
      if (op === 'mean') t.div_(this.worldSize)
    }
  }

  /**
   * The sum over the ranks as a new tensor that autograd differentiates: the gradient that
   * reaches it is summed over the ranks in backward (what synchronised batch norm needs).
   */
  allReduceSumAutograd(tensor: Tensor): Tensor {
    return new Tensor(binding().distAllReduceSumAutograd(this.#group, tensor[kHandle]))
  }

  /** Every rank receives root's values, in place; one collective per tensor. */
  broadcast(tensors: Tensor[], root = 0): void {
    for (const t of tensors) binding().distBroadcast(this.#group, handles([t]), root)
  }

  /**
   * One tensor per rank, in rank order. Ranks may hold different lengths along dimension 0 (a
   * shard of an uneven split): lengths are exchanged first and the tensors padded for the transfer.
   */
  allGather(tensor: Tensor): Tensor[] {
    const length = zeros([1]).add_(tensor.shape[0] ?? 0)
    const lengths = binding()
      .distAllGather(this.#group, length[kHandle])
      .map((h) => new Tensor(h))
    length.dispose()
    const sizes = lengths.map((l) => {
      const n = l.item()
      l.dispose()
      return n
    })
    const longest = Math.max(...sizes)
    const rest = tensor.shape.slice(1)
    const padded =
      longest === tensor.shape[0]
        ? tensor.contiguous()
        : cat(
            [tensor, zeros([longest - (tensor.shape[0] ?? 0), ...rest], { dtype: tensor.dtype })],
            0,
          )
    const gathered = binding()
      .distAllGather(this.#group, padded[kHandle])
      .map((h) => new Tensor(h))
    padded.dispose()
    return gathered.map((t, r) => {
      if (t.shape[0] === sizes[r]) return t
      const trimmed = t.slice(0, 0, sizes[r] as number).contiguous()
      t.dispose()
      return trimmed
    })
  }

  /** Blocks until every rank has reached it. */
  barrier(): void {
    binding().distBarrier(this.#group)
  }

  /** Closes the connections. */
  destroy(): void {
    if (this.#handle === null) return
    binding().distDestroy(this.#handle)
    this.#handle = null
  }
}
