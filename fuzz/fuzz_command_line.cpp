// The training programs' command line (tools/trainer/config.h) on arbitrary arguments: the
// input's lines are the arguments after the program's name; what parses is then validated
// and written as config.json would be.
#include <sstream>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "tools/trainer/config.h"

using namespace slab;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_folder()) return 0;
  fuzz::write_seed("sgd", "--optimizer\nsgd\n--lr\n0.05\n--epochs\n3\n--batch-size\n64\n--threads\n2\n");
  fuzz::write_seed("sghmc-spl", "--optimizer=sghmc-spl\n--model\nresnet20\n--cycles\n2\n--samples-per-cycle\n3\n--warm-up\n0\n");
  fuzz::write_seed("resume", "--resume\nruns/x\n--max-steps\n4\n--checkpoint-every\n2\n--seed\n7\n");
  fuzz::write_seed("schedule", "--schedule\nstep\n--lr-step-epochs\n2\n--lr-gamma\n0.5\n--warmup-epochs\n1\n--train-limit\n100\n");
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> arguments = {"slab-train-fuzz"};
  std::istringstream lines(std::string(reinterpret_cast<const char*>(data), size));
  for (std::string line; std::getline(lines, line) && arguments.size() < 64;) arguments.push_back(line);
  tools::ProgramDefaults defaults;
  defaults.program = "slab-train-fuzz";
  defaults.dataset = "fashion-mnist";
  defaults.data_dir = "/nonexistent";
  defaults.model = "small-cnn";
  fuzz::refused_or_accepted([&] {
    const tools::ParsedCommandLine parsed = tools::parse_train_command_line(defaults, arguments);
    if (parsed.exit_now) return;
    tools::validate_train_config(parsed.config);
    (void)tools::config_to_json(parsed.config).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    (void)tools::describe_config(parsed.config);
  });
  return 0;
}
