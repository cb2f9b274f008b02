/** `improxy lab` / `npm run demo`. (Being built.) */
export interface LabOptions {
  /** Seconds to keep the lab running before the summary and teardown (0 = until Ctrl-C). */
  duration: number;
}

export async function runLab(_opts: LabOptions): Promise<number> {
  throw new Error("lab not implemented yet");
}
