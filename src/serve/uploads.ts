/**
 * Images out of a request: multipart files or one raw image body, the whole body bounded, each
 * image's header checked (format, size) before it is decoded to a patch of the model's size
 * (resized only when asked), with a 4xx naming the file and the fix otherwise.
 * @module
 */
import type { FastifyRequest } from 'fastify'
import { decodePatch, readImageHeader } from '../data/decode.js'
import { DataError } from '../errors.js'
import { HttpError } from './http-errors.js'

/** The largest image ?resize=1 accepts, per side: bounds decoding memory and time. */
export const MAX_RESIZE_SIDE = 4096

export interface Upload {
  name: string
  bytes: Buffer
}

/** The request's images; throws HttpError for a body that is not one. */
export async function readUploads(request: FastifyRequest, bodyLimit: number): Promise<Upload[]> {
  if (request.isMultipart()) return readMultipart(request, bodyLimit)
  const body = request.body
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) return []
    const name = (request.headers['x-filename'] as string | undefined) ?? 'image'
    return [{ name, bytes: body }]
  }
  if (request.headers['content-type'] && body !== undefined)
    throw new HttpError(
      415,
      `Unsupported content type ${request.headers['content-type']}; send multipart/form-data or an image.`,
    )
  return []
}

// @fastify/multipart limits each file; the sum over the files is bounded here.
async function readMultipart(request: FastifyRequest, bodyLimit: number): Promise<Upload[]> {
  if (Number(request.headers['content-length']) > bodyLimit) throw new HttpError(413, 'too large')
  const uploads: Upload[] = []
  let total = 0
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue
      const bytes = await part.toBuffer()
      total += bytes.length
      if (total > bodyLimit) throw new HttpError(413, 'too large')
      uploads.push({ name: part.filename, bytes })
    }
  } catch (error) {
    // The parser's own errors (truncated body, no boundary) carry no status: the client's fault.
    if ((error as { statusCode?: number }).statusCode) throw error
    throw new HttpError(400, `Malformed multipart body: ${(error as Error).message}`)
  }
  return uploads
}

/** Decodes an upload to size x size RGB, resizing it only when asked; checks its header first. */
export async function toPatch(upload: Upload, size: number, resize: boolean): Promise<Uint8Array> {
  const { width, height } = await orCannotDecode(upload, readImageHeader(upload.bytes))
  const fits = width === size && height === size
  if (!resize && !fits) {
    throw new HttpError(
      400,
      `${upload.name} is ${width}x${height}; the model takes ${size}x${size} patches (add ?resize=1 to resize).`,
    )
  }
  if (width > MAX_RESIZE_SIDE || height > MAX_RESIZE_SIDE) {
    throw new HttpError(
      400,
      `${upload.name} is ${width}x${height}; with ?resize=1 images may be at most ${MAX_RESIZE_SIDE}x${MAX_RESIZE_SIDE}.`,
    )
  }
  // The header passed the checks above; the limit also holds a file whose pixels disagree.
  const decoded = await orCannotDecode(
    upload,
    decodePatch(upload.bytes, {
      maxPixels: MAX_RESIZE_SIDE ** 2,
      resizeTo: fits ? undefined : size,
    }),
  )
  return new Uint8Array(decoded.pixels)
}

/**
 * The result of work on an upload's bytes, with the file named in a DataError (a 400); anything
 * else is the server's own trouble and goes on unchanged (a 500, logged).
 */
async function orCannotDecode<T>(upload: Upload, work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (error) {
    if (!(error instanceof DataError)) throw error
    throw new DataError(`Cannot decode ${upload.name}: ${error.message}`, { cause: error })
  }
}
