#!/usr/bin/env node
// Seed 000, phase 4: "python scripts/clear_rag_cache.py" — drops the RAG cache so a restart without
// RAG/memory starts clean. Usage: clear-rag-cache.mjs [--pattern 'rag:cache:*'] (Redis URL in REDIS_URL).
// Deleting keys that are already gone deletes nothing, so running it twice is safe.
import { parseArgs } from 'node:util';
import { createClient } from 'redis';

const { values } = parseArgs({ options: { pattern: { type: 'string', default: 'rag:cache:*' } } });
const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
client.on('error', (err) => {
  console.error(`redis: ${err.message}`);
  process.exit(1);
});
await client.connect();
let cleared = 0;
for await (const keys of client.scanIterator({ MATCH: values.pattern, COUNT: 500 })) {
  if (keys.length > 0) cleared += await client.del(keys);
}
console.log(`cleared ${cleared} RAG cache key(s) matching ${values.pattern}`);
await client.close();
