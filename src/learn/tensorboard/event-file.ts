/**
 * TensorBoard event files: a sequence of TFRecords (little-endian uint64 length, its masked
 * CRC-32C, the data, the data's masked CRC-32C), each holding a protobuf `Event`. The first event
 * names the format ("brain.Event:2"); the others carry a `Summary` of scalars or an image.
 * Messages are encoded by protobufjs from the part of TensorBoard's schema written here, with the
 * field numbers of tensorboard/compat/proto/event.proto and summary.proto.
 * @see https://github.com/tensorflow/tensorboard/blob/master/tensorboard/compat/proto/event.proto
 * @module
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import protobuf from 'protobufjs'
import { crc32c, maskCrc } from './crc32c.js'

const SCHEMA = `
syntax = "proto3";
package tensorboard;

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
  }
}

message Summary {
  message Image {
    int32 height = 1;
    int32 width = 2;
    int32 colorspace = 3;
    bytes encoded_image_string = 4;
  }
  message Value {
    string tag = 1;
    oneof value {
      float simple_value = 2;
      Image image = 4;
    }
  }
  repeated Value value = 1;
}
`

/** What TensorBoard expects in the first event of a file. */
export const FILE_VERSION = 'brain.Event:2'

/** Summary.Image.colorspace of RGB. */
const RGB = 3

interface SummaryValue {
  tag: string
  simpleValue?: number
  image?: { height: number; width: number; colorspace: number; encodedImageString: Uint8Array }
}

interface EventMessage {
  /** Seconds since the Unix epoch. */
  wallTime: number
  step?: number
  fileVersion?: string
  summary?: { value: SummaryValue[] }
}

let eventType: protobuf.Type | null = null
function Event(): protobuf.Type {
  eventType ??= protobuf.parse(SCHEMA, { keepCase: false }).root.lookupType('tensorboard.Event')
  return eventType
}

/** The serialised `Event`. */
function encodeEvent(event: EventMessage): Uint8Array {
  const type = Event()
  const problem = type.verify(event)
  if (problem) throw new Error(`Invalid TensorBoard event: ${problem}`)
  return type.encode(type.fromObject(event)).finish()
}

/** One TFRecord: the length and the data, each followed by its masked CRC-32C. */
function tfRecord(data: Uint8Array): Buffer {
  const record = Buffer.alloc(8 + 4 + data.length + 4)
  record.writeBigUInt64LE(BigInt(data.length), 0)
  record.writeUInt32LE(maskCrc(crc32c(record.subarray(0, 8))), 8)
  record.set(data, 12)
  record.writeUInt32LE(maskCrc(crc32c(data)), 12 + data.length)
  return record
}

/** A PNG to show as an image, with its size. */
interface PngImage {
  png: Uint8Array
  width: number
  height: number
}

/**
 * Writes one event file in `dir`: a new file named as TensorFlow names them
 * (events.out.tfevents.<unix seconds>.<host>), never an existing one, so that a resumed run adds a
 * file beside the earlier ones (TensorBoard reads them all, in name order). Records are written
 * as they come, so a killed process loses none; close() releases the file, and a later write
 * appends to it again.
 */
export class EventFileWriter {
  readonly path: string
  /** Seconds since the Unix epoch: each event's wall_time. */
  readonly now: () => number
  #fd: number | null

  constructor(dir: string, options: { now?: () => number; host?: string } = {}) {
    this.now = options.now ?? (() => Date.now() / 1000)
    mkdirSync(dir, { recursive: true })
    const base = `events.out.tfevents.${Math.floor(this.now())}.${options.host ?? hostname()}`
    let fd: number | undefined
    let path = join(dir, base)
    for (let n = 2; fd === undefined; n++) {
      try {
        fd = openSync(path, 'wx')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        path = join(dir, `${base}.${n}`)
      }
    }
    this.path = path
    this.#fd = fd
    this.#write({ wallTime: this.now(), fileVersion: FILE_VERSION })
  }

  /** Scalars (as float32, TensorBoard's simple_value) at a step, in one event. */
  scalars(step: number, values: Record<string, number>): void {
    this.#write({
      wallTime: this.now(),
      step,
      summary: {
        value: Object.entries(values).map(([tag, simpleValue]) => ({ tag, simpleValue })),
      },
    })
  }

  /** An RGB PNG at a step. */
  image(step: number, tag: string, { png, width, height }: PngImage): void {
    this.#write({
      wallTime: this.now(),
      step,
      summary: {
        value: [{ tag, image: { height, width, colorspace: RGB, encodedImageString: png } }],
      },
    })
  }

  #write(event: EventMessage): void {
    this.#fd ??= openSync(this.path, 'a')
    const record = tfRecord(encodeEvent(event))
    for (let done = 0; done < record.length;)
      done += writeSync(this.#fd, record, done, record.length - done)
  }

  /** Makes what was written durable (it is already visible to readers). */
  flush(): void {
    if (this.#fd !== null) fsyncSync(this.#fd)
  }

  close(): void {
    if (this.#fd === null) return
    fsyncSync(this.#fd)
    closeSync(this.#fd)
    this.#fd = null
  }
}
