/**
 * Getting a PCam HDF5 file onto disk for libhdf5: in place when it is a plain file, else inflated
 * (from .gz or a zip) into a scratch folder with a byte cap, and in both cases checked for the HDF5
 * signature first, so a misnamed file gets one clear line instead of libhdf5's diagnostics.
 * @module
 */
import { createWriteStream } from 'node:fs'
import { open, rm, statfs } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { DataError } from '../../errors.js'
import { formatBytes, type ReadLimit, type Tree } from '../tree.js'

/**
 * The largest file a PCam source can hold inflated: train_x.h5 is 262,144 x 96 x 96 x 3 bytes
 * (7.2 GB) plus HDF5's own few kilobytes, so 8 GiB leaves room and stops a bomb early.
 */
export const MAX_HDF5: ReadLimit = { bytes: 8 * 2 ** 30, what: 'a PCam HDF5 file' }
/** Disk space left to others when inflating onto a nearly full disk. */
const FREE_DISK_RESERVE = 2 ** 30

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])

/**
 * Streams input through the stages into target, counting the bytes written: past the limit the
 * copy stops and target is removed (as it is on any other failure).
 */
export async function copyCapped(
  input: Readable,
  stages: Transform[],
  target: string,
  limit: ReadLimit,
  where: string,
): Promise<void> {
  let bytes = 0
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length
      if (bytes <= limit.bytes) return done(null, chunk)
      done(
        new DataError(
          `Refusing to extract ${where}: it inflates past ${formatBytes(limit.bytes)}, more than ` +
            `${limit.what} may hold.`,
        ),
      )
    },
  })
  try {
    await pipeline([input, ...stages, count, createWriteStream(target)])
  } catch (error) {
    await rm(target, { force: true })
    if (error instanceof DataError) throw error
    throw new DataError(`Cannot decompress ${where}: ${(error as Error).message}`, { cause: error })
  }
}

/** The cap for inflating into dir: MAX_HDF5, or less when the disk has less room than that. */
async function extractLimit(dir: string): Promise<ReadLimit> {
  const disk = await statfs(dir)
  const room = disk.bavail * disk.bsize - FREE_DISK_RESERVE
  if (room >= MAX_HDF5.bytes) return MAX_HDF5
  return {
    bytes: Math.max(room, 0),
    what: `the free space of ${dir} (less ${formatBytes(FREE_DISK_RESERVE)})`,
  }
}

/** HDF5 puts its signature at byte 0, or after a user block at 512, 1024, 2048, ... */
async function hasHdf5Signature(file: string): Promise<boolean> {
  const handle = await open(file, 'r')
  try {
    const { size } = await handle.stat()
    const bytes = Buffer.alloc(HDF5_SIGNATURE.length)
    for (let offset = 0; offset + bytes.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      await handle.read(bytes, 0, bytes.length, offset)
      if (bytes.equals(HDF5_SIGNATURE)) return true
    }
    return false
  } finally {
    await handle.close()
  }
}

/** Inflates a gzipped or zipped file into dir, capped; returns the copy's path. */
async function inflate(tree: Tree, path: string, dir: string): Promise<string> {
  const target = join(dir, basename(path).replace(/\.gz$/, ''))
  const stages = path.endsWith('.gz') ? [createGunzip()] : []
  const input = await tree.stream(path)
  await copyCapped(input, stages, target, await extractLimit(dir), tree.describe(path))
  return target
}

/**
 * A path on disk for the file, checked to be HDF5: itself, or a copy inflated into the folder
 * scratch() makes when it is gzipped or zipped (the caller removes that folder).
 */
export async function hdf5OnDisk(
  tree: Tree,
  path: string,
  scratch: () => Promise<string>,
): Promise<string> {
  const direct = tree.diskPath(path)
  const file = direct && !path.endsWith('.gz') ? direct : await inflate(tree, path, await scratch())
  if (!(await hasHdf5Signature(file))) {
    throw new DataError(
      `${tree.describe(path)} is named like a PCam HDF5 file but is not HDF5 (no HDF5 signature)` +
        `${path.endsWith('.gz') ? ' once decompressed' : ''}. Download it again ("pcam download pcam").`,
    )
  }
  return file
}
