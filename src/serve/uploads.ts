/**
 * Images out of a request: multipart files or one raw image body, each decoded to a patch of the
 * model's size (resized only when asked), with a 400 naming the file and the fix otherwise.
 * @module
 */
import type { FastifyRequest } from 'fastify'
import sharp from 'sharp'
import { decodePatch } from '../data/decode.js'

/** An HTTP error with the status and the reason to send. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

export interface Upload {
  name: string
  bytes: Buffer
}

export async function readUploads(request: FastifyRequest): Promise<Upload[]> {
  if (request.isMultipart()) {
    const uploads: Upload[] = []
    for await (const part of request.parts()) {
      if (part.type === 'file') uploads.push({ name: part.filename, bytes: await part.toBuffer() })
    }
    return uploads
  }
  const body = request.body
  if (Buffer.isBuffer(body) && body.length > 0) {
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

/** Decodes an upload to size x size RGB, resizing it only when asked. */
export async function toPatch(upload: Upload, size: number, resize: boolean): Promise<Uint8Array> {
  let decoded
  try {
    decoded = await decodePatch(upload.bytes)
  } catch (error) {
    throw new HttpError(
      400,
      `Cannot decode ${upload.name}: ${(error as Error).message.split('\n')[0]}`,
    )
  }
  if (decoded.width === size && decoded.height === size) return new Uint8Array(decoded.pixels)
  if (!resize) {
    throw new HttpError(
      400,
      `${upload.name} is ${decoded.width}x${decoded.height}; the model takes ${size}x${size} patches (add ?resize=1 to resize).`,
    )
  }
  const pixels = await sharp(decoded.pixels, {
    raw: { width: decoded.width, height: decoded.height, channels: 3 },
  })
    .resize(size, size, { fit: 'cover' })
    .raw()
    .toBuffer()
  return new Uint8Array(pixels)
}
