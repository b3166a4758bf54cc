/**
 * Progress for long steps (pairing, launching, connecting): a spinner line on a terminal, plain
 * log lines when stderr is not a terminal, nothing at all in `--json` mode.
 */
const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export class Progress {
  readonly #enabled: boolean;
  readonly #tty: boolean;
  #text = "";
  #frame = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: { quiet: boolean }) {
    this.#enabled = !options.quiet;
    this.#tty = process.stderr.isTTY === true;
  }

  /** Shows `text` as the current step. */
  update(text: string): void {
    if (!this.#enabled || text === this.#text) return;
    this.#text = text;
    if (!this.#tty) {
      process.stderr.write(`… ${text}\n`);
      return;
    }
    this.#timer ??= setInterval(() => this.#render(), 80);
    this.#render();
  }

  /** Prints a line above the spinner (e.g. the PIN to type). */
  note(text: string): void {
    if (!this.#enabled) return;
    if (this.#tty) process.stderr.write("\r\x1b[2K");
    process.stderr.write(`${text}\n`);
    if (this.#tty && this.#timer) this.#render();
  }

  /** Ends the spinner with a final line (✔ or ✖). */
  done(text: string, ok = true): void {
    this.stop();
    if (this.#enabled) process.stderr.write(`${ok ? "✔" : "✖"} ${text}\n`);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty && this.#enabled && this.#text) process.stderr.write("\r\x1b[2K");
    this.#text = "";
  }

  #render(): void {
    process.stderr.write(`\r\x1b[2K${FRAMES[this.#frame++ % FRAMES.length]} ${this.#text}`);
  }
}
