// The compression codecs KafkaJS does not ship, registered into its
// CompressionCodecs table (KafkaJS itself has only gzip).
//
// - snappy: kafkajs-snappy (pure JS, snappyjs), the codec KafkaJS documents.
// - lz4: an LZ4 frame codec over lz4js (pure JS). KafkaJS points to
//   kafkajs-lz4, which needs the native `lz4` module and so a node-gyp build
//   against downloaded headers; lz4js needs nothing.
// - zstd: a codec over zstd-codec (zstd compiled to WebAssembly/asm.js and
//   shipped inside the package). KafkaJS points to @kafkajs/zstd, which needs
//   the native cppzst. Decompression streams, so a frame without a content
//   size (librdkafka and Kafka write those) decompresses too.
'use strict'

const { CompressionTypes, CompressionCodecs } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4js')
const { ZstdCodec } = require('zstd-codec')

const Lz4Codec = () => ({
  async compress (encoder) {
    return Buffer.from(lz4.compress(encoder.buffer))
  },
  async decompress (buffer) {
    return Buffer.from(lz4.decompress(buffer))
  }
})

// zstd-codec loads its module once, asynchronously; every call waits for it.
let zstdReady = null
function zstd () {
  if (zstdReady === null) zstdReady = new Promise(resolve => ZstdCodec.run(resolve))
  return zstdReady
}

const ZstdKafkaCodec = () => ({
  async compress (encoder) {
    const z = await zstd()
    return Buffer.from(new z.Simple().compress(encoder.buffer, 3))
  },
  async decompress (buffer) {
    const z = await zstd()
    const out = new z.Streaming().decompress(buffer)
    if (out === null) throw new Error('zstd: the payload does not decompress')
    return Buffer.from(out)
  }
})

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = Lz4Codec
CompressionCodecs[CompressionTypes.ZSTD] = ZstdKafkaCodec
