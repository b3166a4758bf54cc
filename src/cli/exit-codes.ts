/** Process exit codes of every command. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** Unknown command or option, missing argument: the user typed something wrong. */
export const EXIT_USAGE = 2;
/** `serve`: the listen address and port are taken (another serve or another program). */
export const EXIT_ADDRESS_IN_USE = 3;
/** `serve`: another serve runs on the same data dir. */
export const EXIT_DATA_DIR_LOCKED = 4;
