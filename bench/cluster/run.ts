import { formatTable, parseArgs, saveResults } from '../lib/table.ts';
import { parseClusterArgs, runClusterBench } from './cluster-bench.ts';

/**
 * `node --import tsx bench/cluster/run.ts [--quick] [--only 2000] [--drain-procs=N] [--clip=720p|1080p]`:
 * needs nats-server and Postgres (Debian packages).
 */
const argv = process.argv.slice(2);
const options = { ...parseArgs(argv), ...parseClusterArgs(argv), log: (line: string) => process.stderr.write(`${line}\n`) };
const result = await runClusterBench(options);
const name = `cluster${options.only ? `-only-${options.only}` : ''}${options.quick ? '-quick' : ''}`;
saveResults(name, result);
process.stdout.write(`${formatTable(result.rows)}\n`);
