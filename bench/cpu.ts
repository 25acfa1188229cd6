/**
 * CPU time of process trees, read from /proc. A server's tree is its process and every descendant
 * (PostgreSQL's backends, n8n's task runner); each process counts its own user + system time and
 * that of the children it has reaped, so CPU of processes that already exited is not lost.
 */
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

interface Proc {
  ppid: number;
  seconds: number;
}

function processes(): Map<number, Proc> {
  const all = new Map<number, Proc>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited between readdir and read
    }
    // Fields after "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    all.set(Number(pid), { ppid: Number(f[1]), seconds: ticks / TICKS_PER_SECOND });
  }
  return all;
}

/** CPU seconds used so far by each given process and all its descendants. */
export function treeCpuSeconds(roots: number[]): Map<number, number> {
  const all = processes();
  const rootOf = (pid: number): number | undefined => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = all.get(p)?.ppid)
      if (roots.includes(p)) return p;
    return undefined;
  };
  const totals = new Map<number, number>(roots.map((r) => [r, 0]));
  for (const [pid, proc] of all) {
    const root = rootOf(pid);
    if (root !== undefined) totals.set(root, (totals.get(root) ?? 0) + proc.seconds);
  }
  return totals;
}

/** Resident memory of one process in MiB from /proc/<pid>/status: now (VmRSS) or its peak (VmHWM); 0 when it is gone. */
export function rssMiB(pid: number, which: "VmRSS" | "VmHWM" = "VmHWM"): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${which}:`));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
