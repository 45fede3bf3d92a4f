import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/**
 * Per-process CPU and memory from Linux /proc: utime+stime of one pid (not its children), VmRSS
 * now, VmHWM (peak since start), and a sampler for the peak RSS over a measured window.
 */

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) used so far by `pid` itself; NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

function statusKiB(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * A process's main thread (the event loop) so far, from /proc/<pid>/schedstat: ns on a CPU and ns
 * runnable but waiting for one. Waiting is what tells a process starved by the machine from one that
 * has all it asks for. NaN when gone.
 */
export function mainThreadSched(pid: number): { runNs: number; waitNs: number } {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { runNs: run!, waitNs: wait! };
  } catch {
    return { runNs: Number.NaN, waitNs: Number.NaN };
  }
}

/**
 * CPU seconds of all of `pid`'s live threads from /proc/<pid>/task/<tid>/schedstat (nanoseconds):
 * for tiny figures (cat) where utime/stime's 10 ms ticks read as zero. NaN when gone.
 */
function preciseCpuSeconds(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // thread gone
      }
    }
    return ns / 1e9;
  } catch {
    return Number.NaN;
  }
}

export const rssKiB = (pid: number): number => statusKiB(pid, 'VmRSS');
export const peakRssKiB = (pid: number): number => statusKiB(pid, 'VmHWM');

/** /proc/stat's first line: the whole machine's CPU ticks so far, by kind (user, nice, system, idle, iowait, irq, softirq, ...). */
function machineTicks(): number[] {
  return readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
}

/** Whole-machine busy CPU seconds (all cores), to tell when the box itself is saturated. */
export function machineBusySeconds(): number {
  const v = machineTicks();
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return (total - idle) / clockTicks();
}

/** The whole machine's CPU seconds so far by kind (all cores): where the box's time goes, kernel work included. */
export function machineCpuSplit(): { user: number; system: number; softirq: number; idle: number } {
  const v = machineTicks();
  const at = (i: number) => v[i] ?? 0;
  const ticks = clockTicks();
  return { user: (at(0) + at(1)) / ticks, system: at(2) / ticks, softirq: (at(5) + at(6)) / ticks, idle: (at(3) + at(4)) / ticks };
}

export interface WindowUsage {
  /** CPU over the window as % of one core */
  cpuPercent: number;
  cpuSeconds: number;
  /** peak VmRSS sampled during the window, MiB */
  peakRssMiB: number;
  /** whole machine busy over the window, % of one core (200 % = both cores of a 2-core box) */
  machinePercent: number;
  seconds: number;
}

/** Measures one process over a window: CPU from utime+stime deltas, RSS sampled every 100 ms. */
export class WindowMeter {
  private readonly pid: number;
  private readonly cpu: (pid: number) => number;
  private startCpu = 0;
  private startMachine = 0;
  private startAt = 0;
  private peakKiB = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `precise`: schedstat nanoseconds instead of utime+stime ticks */
  constructor(pid: number, precise = false) {
    this.pid = pid;
    this.cpu = precise ? preciseCpuSeconds : cpuSeconds;
  }

  start(): void {
    this.startCpu = this.cpu(this.pid);
    this.startMachine = machineBusySeconds();
    this.startAt = performance.now();
    this.peakKiB = rssKiB(this.pid);
    this.timer = setInterval(() => {
      const now = rssKiB(this.pid);
      if (now > this.peakKiB) this.peakKiB = now;
    }, 100);
  }

  stop(): WindowUsage {
    if (this.timer) clearInterval(this.timer);
    const seconds = (performance.now() - this.startAt) / 1000;
    const cpu = this.cpu(this.pid) - this.startCpu;
    const machine = machineBusySeconds() - this.startMachine;
    const now = rssKiB(this.pid);
    if (now > this.peakKiB) this.peakKiB = now;
    return {
      cpuPercent: (100 * cpu) / seconds,
      cpuSeconds: cpu,
      peakRssMiB: this.peakKiB / 1024,
      machinePercent: (100 * machine) / seconds,
      seconds,
    };
  }
}

/** `pid` and its descendants (scanning /proc for parent links). */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

