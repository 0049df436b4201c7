#ifndef LOCKPOOL_CFUZZER_H
#define LOCKPOOL_CFUZZER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (libclang_rt.fuzzer, linked by -sanitize=fuzzer). SwiftPM links an executable target with
// `--defsym main=<module>_main`, which replaces libFuzzer's own main, so each target's <module>_main calls this.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
