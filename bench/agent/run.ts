import { formatTable, parseArgs, saveResults } from '../lib/table.ts';
import { runAgentBench } from './agent-bench.ts';

/** `node --import tsx bench/agent/run.ts [--quick]` */
const options = { ...parseArgs(process.argv.slice(2)), log: (line: string) => process.stderr.write(`${line}\n`) };
const result = await runAgentBench(options);
saveResults(options.quick ? 'agent-quick' : 'agent', result);
process.stdout.write(`${formatTable(result.rows)}\n`);
