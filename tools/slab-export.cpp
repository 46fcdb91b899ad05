// slab-export: writes a run's network as safetensors + graph JSON, ONNX or a PyTorch module;
// the program is tools/export/export_program.h.
#include "tools/export/export_program.h"

int main(int argc, char** argv) { return slab::tools::export_program_main(argc, argv); }
