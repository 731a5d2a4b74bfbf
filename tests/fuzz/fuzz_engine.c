/* fuzz_engine.c -- libFuzzer target for the engine's command path: random
 * sequences of every loop operation (multiply and insert included), with
 * waits, a slow keeper and a memory limit, into a real engine and keeper
 * (tests/engine_ops.h says how bytes become operations, and what must hold
 * after each). Built and run by tests/fuzz/run. */
#include <stddef.h>
#include <stdint.h>

#include "../engine_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return ops_run(data, size);
}
