// Produces one keyed message with one header with KafkaJS, then exits.
// Usage: node produce.js HOST:PORT TOPIC KEY VALUE HEADER_NAME HEADER_VALUE [idempotent]
'use strict'

const { Kafka, Partitioners, logLevel } = require('kafkajs')
require('./codecs') // snappy, lz4, zstd

const USAGE = 'usage: produce.js HOST:PORT TOPIC KEY VALUE HEADER_NAME HEADER_VALUE [idempotent]'

async function main (argv) {
  if (argv.length < 6 || argv.length > 7 || (argv.length === 7 && argv[6] !== 'idempotent')) {
    throw new Error(USAGE)
  }
  const [broker, topic, key, value, headerName, headerValue] = argv
  const idempotent = argv.length === 7
  const kafka = new Kafka({
    brokers: [broker],
    logLevel: logLevel.ERROR,
    connectionTimeout: 10000,
    requestTimeout: 10000,
    retry: { retries: 3 }
  })
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    // KafkaJS requires a single in-flight request for idempotence.
    ...(idempotent ? { idempotent: true, maxInFlightRequests: 1 } : {})
  })
  await producer.connect()
  try {
    await producer.send({
      topic,
      messages: [{ key, value, headers: { [headerName]: headerValue } }]
    })
  } finally {
    await producer.disconnect()
  }
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err && err.stack ? err.stack : err)
  process.exit(1)
})
