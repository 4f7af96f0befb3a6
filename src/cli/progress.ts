/** A progress bar on stderr (drawn only on a terminal: piped output stays clean). */
import cliProgress from 'cli-progress';
import type { Io } from './output.ts';

export interface Bar {
  update(value: number): void;
  stop(): void;
}

/**
 * @example
 * const bar = progressBar(io, 'hubspot', 'people', 120);
 * bar.update(60);
 * bar.stop();
 */
export function progressBar(io: Io, label: string, unit: string, total: number): Bar {
  if (!io.errStream) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      format: ` ${label.padEnd(10)} [{bar}] {value}/{total} ${unit}`,
      hideCursor: true,
      stream: io.errStream,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (value) => bar.update(Math.min(value, total)),
    stop() {
      bar.update(total);
      bar.stop();
    },
  };
}
