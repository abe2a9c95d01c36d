/**
 * The options that start a command's ranks on this machine (and say where the others are), and
 * the launch itself with rank 0's output relayed: shared by train and slide predict.
 * @module
 */
import { launchRanks, type LaunchResult } from '../learn/launcher.js'
import { checkInteger } from '../torch/index.js'
import type { Command, OptionValues } from './command.js'

export const LAUNCH_OPTIONS: Command['options'] = {
  nproc: { type: 'number', default: 1, description: 'Ranks (processes) on this machine' },
  nnodes: { type: 'number', default: 1, description: 'Machines taking part' },
  'node-rank': { type: 'number', default: 0, description: "This machine's index, 0..nnodes-1" },
  'master-addr': {
    type: 'string',
    default: '127.0.0.1',
    description: 'Address of node 0, where rank 0 listens',
  },
  'master-port': {
    type: 'number',
    default: 0,
    description: 'Port on node 0 (0: a free one; give one when --nnodes > 1)',
  },
}

/** Whether the options ask for more than this one process. */
export function wantsRanks(values: OptionValues): boolean {
  return Number(values.nproc) > 1 || Number(values.nnodes) > 1
}

/** Starts this machine's ranks with the same command line; rank 0 speaks, the others prefixed. */
export function launchFromOptions(values: OptionValues): Promise<LaunchResult> {
  return launchRanks({
    nproc: checkInteger(values.nproc, '--nproc', 1),
    nnodes: checkInteger(values.nnodes, '--nnodes', 1),
    nodeRank: checkInteger(values['node-rank'], '--node-rank', 0),
    masterAddr: values['master-addr'] as string,
    masterPort: checkInteger(values['master-port'], '--master-port', 0),
    args: process.argv.slice(2),
    onStart: (rank, pid) => console.log(`rank ${rank}: pid ${pid}`),
    onLine: (rank, line, stream) => {
      if (rank !== 0) console.error(`[rank ${rank}] ${line}`)
      else if (stream === 'stdout') console.log(line)
      else console.error(line)
    },
  })
}

/** "was killed by SIGKILL" or "exited with code 1", for a failed launch's message. */
export function howRankEnded(failed: NonNullable<LaunchResult['failed']>): string {
  return failed.signal ? `was killed by ${failed.signal}` : `exited with code ${failed.code}`
}
