/**
 * CRC-32C (Castagnoli), the checksum of TFRecord framing, and TFRecord's mask over it: a record's
 * checksum is stored rotated and offset, so that a CRC computed over bytes that themselves hold
 * CRCs does not degenerate.
 * @module
 */

/** The Castagnoli polynomial, bit-reflected (CRC-32C processes the least significant bit first). */
const POLYNOMIAL = 0x82f63b78

/** The CRC of every byte value, for a byte at a time. */
const TABLE = (() => {
  const table = new Uint32Array(256)
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1
    table[byte] = crc
  }
  return table
})()

/** CRC-32C of `bytes`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of bytes) crc = (TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** TFRecord's masked CRC: rotated right by 15 bits, plus 0xa282ead8, modulo 2^32. */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0
}
