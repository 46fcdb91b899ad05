// What a finished or stopped run reports: summary.json and the one `key=value` line the
// programs end with (scripts and tests read it).
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bayes/sparsity.h"
#include "tools/trainer/config.h"
#include "tools/trainer/evaluate.h"
#include "tools/trainer/trainer.h"

namespace slab::tools {

// summary.json: the program, run folder, model, optimizer, length, the last test metrics,
// the posterior table (samplers), the final sparsity (sghmc-spl), time and backend.
nlohmann::ordered_json run_summary(const TrainConfig& config, const TrainResult& result,
                                   const std::optional<PosteriorMetrics>& posterior,
                                   const std::optional<SparsityReport>& sparsity);

// "test_acc=... test_nll=... epochs=... seconds=..." [+ " bma_acc=... bma_nll=..."] [+ " sparsity=..."].
std::string completed_line(const TrainResult& result, int64_t epochs);

// "stopped=interrupt|max-steps step=... epoch=... checkpoint=...".
std::string stopped_line(const TrainResult& result, const std::string& checkpoint);

}  // namespace slab::tools
