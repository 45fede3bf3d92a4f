import { formatTable, parseArgs, saveResults } from '../lib/table.ts';
import { runClusterBench } from './cluster-bench.ts';

/** `node --import tsx bench/cluster/run.ts [--quick]`: needs nats-server and Postgres (Debian packages). */
const options = { ...parseArgs(process.argv.slice(2)), log: (line: string) => process.stderr.write(`${line}\n`) };
const result = await runClusterBench(options);
saveResults(options.quick ? 'cluster-quick' : 'cluster', result);
process.stdout.write(`${formatTable(result.rows)}\n`);
