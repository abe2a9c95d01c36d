/**
 * An ensemble's run folder (`pcam train --ensemble <k>`): config.json with `ensemble.members`,
 * and each member a complete ordinary run folder in its own subfolder (member-1, member-2, ...),
 * so every per-run tool works on a member as well.
 * @module
 */
import { join } from 'node:path'
import { readRunConfig, type RunConfig } from './run-folder.js'

/** The subfolder name of member `index` (0-based). */
export function memberName(index: number): string {
  return `member-${index + 1}`
}

/** The members' folders of an ensemble run, [] for an ordinary run. */
export function memberDirs(run: string, config: RunConfig = readRunConfig(run)): string[] {
  return (config.ensemble?.members ?? []).map((name) => join(run, name))
}

/** Whether the run is an ensemble. */
export function isEnsemble(config: RunConfig): boolean {
  return (config.ensemble?.members.length ?? 0) > 0
}
