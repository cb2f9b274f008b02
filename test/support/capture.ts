/** Packet capture with dumpcap inside a lab namespace, dissected afterwards with tshark. */
import { join } from "node:path";
import { run } from "../../src/lab/netns.js";
import type { Netns } from "../../src/lab/netns.js";
import { tempDir } from "./temp.js";

export interface Capture {
  file: string;
  /** Stops the capture and waits until the file is complete. */
  stop(): Promise<void>;
}

export async function startCapture(ns: Netns, ifname: string, filter = "igmp or ip6"): Promise<Capture> {
  const file = join(tempDir("improxy-cap-"), `${ifname}.pcapng`);
  const proc = ns.spawn("dumpcap", ["-q", "-i", ifname, "-f", filter, "-w", file]);
  let err = "";
  proc.stderr!.setEncoding("utf8");
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`dumpcap did not start: ${err}`)), 10_000);
    proc.stderr!.on("data", (d: string) => {
      err += d;
      if (err.includes("Capturing on")) {
        clearTimeout(t);
        res();
      }
    });
    proc.once("exit", () => rej(new Error(`dumpcap exited: ${err}`)));
  });
  const exited = new Promise<void>((res) => proc.once("exit", () => res()));
  return {
    file,
    async stop() {
      proc.kill("SIGINT");
      await exited;
    },
  };
}

/** Dissects a capture: one object per packet with the requested fields (tshark -T fields). */
export async function tsharkFields(file: string, displayFilter: string, fields: string[]): Promise<string[][]> {
  const args = ["-r", file, "-Y", displayFilter, "-T", "fields", "-E", "separator=|"];
  for (const f of fields) args.push("-e", f);
  const { stdout } = await run("tshark", args);
  return stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => l.split("|"));
}

/** tshark's expert info for a capture: the lines that report problems (warnings and errors). */
export async function tsharkProblems(file: string): Promise<string[]> {
  const { stdout } = await run("tshark", ["-r", file, "-q", "-z", "expert,warn"]);
  return stdout
    .split("\n")
    .filter((l) => /malformed|checksum|bad|error/i.test(l) && !/^=+$/.test(l.trim()));
}
