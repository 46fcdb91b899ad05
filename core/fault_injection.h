// Test-only fault injection, compiled into the library so that the crash tests
// (tests/test_crash.cpp) exercise the code that users run. The environment variable
//
//   SLAB_FAULT_INJECTION=<point>:<n>
//
// makes the process die, as from `kill -9`, the n-th time (counted from 1, in this process)
// it reaches the named point; unset, every point is one cached comparison. The points:
//
//   safetensors-write  save_safetensors, half-way through a file's tensor data, after what
//                      was written so far is flushed to the temporary file (a crash in the
//                      middle of a checkpoint write)
//   train-step         the trainer, right after an optimizer step, before its statistics are
//                      read or a checkpoint is due (a crash mid-epoch)
//   epoch-end          the trainer, right after the end-of-epoch checkpoint is written, before
//                      the next epoch starts (a crash on an epoch boundary)
//
// Documented in docs/reliability.md#crash-tests.
#pragma once

namespace slab {

// True when SLAB_FAULT_INJECTION names `point` (so that a caller may prepare the crash,
// e.g. flush a half-written file); never true when the variable is unset.
bool fault_injection_armed(const char* point);

// Dies with SIGKILL when this is the n-th arrival at the point SLAB_FAULT_INJECTION names.
void fault_injection_point(const char* point);

}  // namespace slab
