// Runs `gatehouse start` directly from the compiled output (benchmarks, process managers).
import { main } from './main.js';

await main([process.argv[0] ?? 'node', process.argv[1] ?? 'gatehouse', 'start', ...process.argv.slice(2)]);
