/** Process exit codes of every command. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
/** Unknown command or option, missing argument: the user typed something wrong. */
export const EXIT_USAGE = 2;
